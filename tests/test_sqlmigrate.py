"""``sqlmigrate`` shows the DDL ``migrate`` runs, for every migration that holds compat operations.

Collecting a migration's SQL runs none of it, so a later operation must see on paper
what an earlier one of the same migration renamed or added (``compat_views.paper``).
Each scenario migration is collected on a database where none of its app's migrations
are applied, on one where the migrations before it are, and once it is applied itself;
each time it shows the same statements, and they are the ones ``migrate`` then runs.
The demo's release 2 migration (renames, then an alter of a renamed column, a remove
and an add) is collected through the demo's own ``manage.py``, on a database where
release 1 is migrated and on an empty one.
"""

from __future__ import annotations

import io
import re

import pytest
from django.core.management import call_command
from django.db import connections
from django.db.migrations.loader import MigrationLoader

from compat_views.operations.base import CompatOperation, database_operations
from demo_project.deployment import Deployment
from tests.conftest import admin
from tests.harness import columns, migrate

# Statements each migration must show (every one of them must also be what migrate runs).
KEY_STATEMENTS = {
    ("atlas", "0002_area_town_title"): [
        'ALTER TABLE "public"."atlas_region" RENAME TO "atlas_area"',
        'ALTER TABLE "public"."atlas_town" RENAME COLUMN "name" TO "title"',
    ],
    ("bank", "0002_release2"): [  # a run on each of two tables (test_roles_migrate.py)
        'ALTER TABLE "public"."bank_account" RENAME COLUMN "name" TO "title"',
        'ALTER TABLE "public"."bank_account" ADD COLUMN "code" varchar(100)',
        'ALTER TABLE "public"."bank_account" RENAME COLUMN "balance" TO "_compat_balance_e47e77e9"',
        'ALTER TABLE "public"."bank_account" ADD COLUMN "balance" numeric(12, 2)',
        'ALTER TABLE "public"."bank_posting" RENAME COLUMN "memo" TO "note"',
    ],
    ("ledger", "0002_rename_memo"): [
        'ALTER TABLE "public"."ledger_entry" RENAME COLUMN "memo" TO "note"',
    ],
    ("ledger", "0004_add_tax"): [
        'ALTER TABLE "ledger_entry" ADD COLUMN "tax_note" text NULL',
        'ALTER TABLE "public"."ledger_entry" ADD COLUMN "tax" integer',
    ],
    ("library", "0002_rename_title"): [
        'ALTER TABLE "public"."library_book" RENAME COLUMN "title" TO "name"',
    ],
    ("library", "0003_mixed"): [
        'ALTER TABLE "library_book" ADD COLUMN "subtitle" varchar(100) NULL',
        'ALTER TABLE "public"."library_book" ADD COLUMN "pages" integer',
    ],
    ("lookup", "0002_unit_price"): [
        'ALTER TABLE "public"."lookup_item" ADD COLUMN "unit_cents" integer',
    ],
    ("oddnames", "0002_rename_and_add"): [
        'ALTER TABLE "public"."Odd ""Book"" Table" RENAME COLUMN "MixedCase" TO "order"',
        'ALTER TABLE "public"."Odd ""Book"" Table" ADD COLUMN "we""ird col" integer',
    ],
    ("pooled", "0002_owner_decimal_balance"): [
        'ALTER TABLE "public"."pooled_account" RENAME COLUMN "holder" TO "owner"',
        'ALTER TABLE "public"."pooled_account" ADD COLUMN "balance" numeric(12, 2)',
    ],
    ("safe", "0002_additive"): [
        'ALTER TABLE "public"."safe_note" RENAME COLUMN "body" TO "text"',
    ],
    ("shelf", "0002_writer_no_tags"): [
        'ALTER TABLE "public"."shelf_author" RENAME TO "shelf_writer"',
        # names the table as the rename before it left it
        'ALTER TABLE "public"."shelf_writer" RENAME COLUMN "name" TO "full_name"',
    ],
    ("shop", "0002_add_amount_status_note"): [
        'ALTER TABLE "public"."shop_order" ADD COLUMN "amount" numeric(10, 2)',
        'ALTER TABLE "public"."shop_order" ADD COLUMN "status" varchar(20) DEFAULT \'new\' '
        "NOT NULL",
        'ALTER TABLE "public"."shop_order" ADD COLUMN "note" text',
    ],
    ("wrapped", "0002_wrapped"): [
        'ALTER TABLE "public"."wrapped_note" ADD COLUMN "pages" integer DEFAULT 1 NOT NULL',
        'ALTER TABLE "public"."wrapped_note" RENAME COLUMN "body" TO "text"',
    ],
    ("wrapped", "0003_wrapped_non_atomic"): [
        'ALTER TABLE "public"."wrapped_note" RENAME COLUMN "words" TO "_compat_words_f764eb97"',
        'ALTER TABLE "public"."wrapped_note" ADD COLUMN "words" bigint',
    ],
}


def scenario_migrations() -> dict[tuple[str, str], object]:
    """Every migration of the scenario apps that holds a compat operation."""
    loader = MigrationLoader(None, ignore_no_migrations=True)
    return {
        key: migration
        for key, migration in sorted(loader.disk_migrations.items())
        if type(migration).__module__.startswith("tests.scenarios.")
        and any(isinstance(op, CompatOperation) for op in database_operations(migration.operations))
    }


MIGRATIONS = scenario_migrations()


def sqlmigrate(app_label: str, name: str) -> tuple[list[str], str]:
    """(statements, whole output) of ``sqlmigrate``: comments and BEGIN/COMMIT left out."""
    out = io.StringIO()
    call_command("sqlmigrate", app_label, name, stdout=out)
    text = out.getvalue()
    return statements(text), text


def statements(text: str) -> list[str]:
    return [
        line.removesuffix(";")
        for line in text.splitlines()
        if line and not line.startswith("--") and line not in ("BEGIN;", "COMMIT;")
    ]


def executed_by(action) -> list[str]:
    """The SQL the default connection runs during ``action()``."""
    seen = []

    def record(execute, sql, params, many, context):
        seen.append(sql)
        return execute(sql, params, many, context)

    with connections["default"].execute_wrapper(record):
        action()
    return seen


def test_every_scenario_migration_with_compat_operations_is_covered():
    assert set(MIGRATIONS) == set(KEY_STATEMENTS)


@pytest.mark.parametrize("key", sorted(MIGRATIONS), ids="{0[0]}.{0[1]}".format)
def test_sqlmigrate_shows_the_statements_migrate_runs(db, key):
    app_label, name = key
    migration = MIGRATIONS[key]
    (previous,) = [dep for app, dep in migration.dependencies if app == app_label]

    on_empty, _ = sqlmigrate(app_label, name)  # none of the app's migrations applied
    migrate(app_label, previous)
    shown, _ = sqlmigrate(app_label, name)
    assert [s for s in KEY_STATEMENTS[key] if s not in shown] == [], shown
    assert on_empty == shown

    if not migration.atomic:
        return  # migrate refuses it (tests/test_wrapped_operations.py, test_history.py)
    ran = executed_by(lambda: migrate(app_label, name))
    assert [s for s in shown if s not in ran] == [], "sqlmigrate shows what migrate does not run"
    again, text = sqlmigrate(app_label, name)  # applied: described from the migration state
    assert again == shown
    assert "is described from the migration state" in text


def demo_manage(release: str, colour: str, conninfo: str, *args: str) -> str:
    return Deployment(release, colour, conninfo).manage(*args, echo=False)


# The demo's release 2 migration: each statement names the columns as the ones before it
# left them, and the AlterCompatColumn moves aside the column the rename just named price.
DEMO_STATEMENTS = [
    r'ALTER TABLE "public"\."bookshop_book" RENAME COLUMN "title" TO "name"',
    r'ALTER TABLE "public"\."bookshop_book" RENAME COLUMN "price_cents" TO "price"',
    r'ALTER TABLE "public"\."bookshop_book" RENAME COLUMN "price" TO "(_compat_price_\w+)"',
    r'ALTER TABLE "public"\."bookshop_book" ADD COLUMN "price" numeric\(10, 2\)',
    r'ALTER TABLE "public"\."bookshop_book" RENAME COLUMN "format" TO "(_compat_format_\w+)"',
    r'ALTER TABLE "public"\."bookshop_book" ADD COLUMN "slug" varchar\(200\)',
]


def demo_statements(conninfo: str) -> tuple[list[str], list[str]]:
    """The demo rollout's statements as sqlmigrate shows them, and the aside names."""
    shown = statements(demo_manage("release2", "green", conninfo, "sqlmigrate", "bookshop", "0002"))
    assert len(shown) == len(DEMO_STATEMENTS), shown
    asides = []
    for statement, pattern in zip(shown, DEMO_STATEMENTS, strict=True):
        match = re.fullmatch(pattern, statement)
        assert match, (statement, pattern)
        asides += match.groups()
    return shown, asides


def test_sqlmigrate_of_the_demo_rollout(pg_server, db, conninfo):
    empty = f"{db}_empty"  # not even compat_views' tables
    admin(pg_server, f"CREATE DATABASE {empty}")
    try:
        on_empty = demo_statements(pg_server.conninfo(empty))
    finally:
        admin(pg_server, f"DROP DATABASE {empty} WITH (FORCE)")

    demo_manage("release1", "blue", conninfo, "migrate")
    shown, asides = demo_statements(conninfo)
    assert on_empty == (shown, asides)

    demo_manage("release2", "green", conninfo, "migrate")
    assert columns("bookshop_book") == ["id", "name", asides[0], "isbn", asides[1], "price", "slug"]
