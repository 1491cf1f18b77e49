"""Bad input: a clear error that says what to do, and the database exactly as it was."""

import psycopg
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connections, models
from django.db.migrations.state import ModelState, ProjectState
from django.test import override_settings

from compat_views import lifecycle
from compat_views.errors import (
    ConfigurationError,
    InvalidOperation,
    RolloutConflict,
    SessionsConnected,
)
from compat_views.operations import (
    AddCompatColumn,
    AlterCompatColumn,
    RemoveCompatColumn,
    RenameCompatColumn,
)
from tests.harness import apply_operations, compat, migrate, rows


def snapshot() -> list:
    """Everything an operation could change: columns, views, functions, triggers, state."""
    return rows(
        """
        SELECT 'col', n.nspname || '.' || c.relname || '.' || a.attname || ':' ||
               format_type(a.atttypid, a.atttypmod) || a.attnotnull::text
        FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
        JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')
          AND a.attnum > 0 AND NOT a.attisdropped
        UNION ALL SELECT 'schema', nspname FROM pg_namespace
        UNION ALL SELECT 'proc', proname FROM pg_proc WHERE proname LIKE '%%compat%%'
        UNION ALL SELECT 'trigger', tgname FROM pg_trigger WHERE NOT tgisinternal
        UNION ALL SELECT 'rollout', id::text || status FROM compat_views_rollout
        UNION ALL SELECT 'op', id::text FROM compat_views_appliedoperation
        UNION ALL SELECT 'migration', app || '.' || name FROM django_migrations
        ORDER BY 1, 2
        """
    )


def run_operation(operation, app_label: str, at: str) -> None:
    apply_operations([operation], app_label, at)


@pytest.fixture
def library(db):
    migrate("library", "0001")
    rows("INSERT INTO library_book (isbn, title, price_cents, stock) VALUES ('1', 'Dune', 1, 1)")
    return snapshot()


@pytest.mark.parametrize(
    "operation, message",
    [
        (RenameCompatColumn("nosuch", "title", "name"), "has no model 'nosuch'"),
        (RenameCompatColumn("book", "nosuch", "name"), "has no field 'nosuch'"),
        (AddCompatColumn("nosuch", "x", models.IntegerField(null=True)), "has no model"),
        (AddCompatColumn("book", "title", models.IntegerField(null=True)), "already has a field"),
    ],
)
def test_unknown_model_or_field(library, operation, message):
    with pytest.raises(InvalidOperation, match=message):
        run_operation(operation, "library", "0001_initial")
    assert snapshot() == library


def test_identifier_longer_than_63_bytes(library):
    long = "é" * 32  # 64 bytes in UTF-8, though only 32 characters
    operation = AddCompatColumn("book", "x", models.IntegerField(null=True, db_column=long))
    with pytest.raises(InvalidOperation, match="64 bytes long.*shorter name"):
        run_operation(operation, "library", "0001_initial")
    rename = RenameCompatColumn("book", "title", "t" * 64)
    with pytest.raises(InvalidOperation, match="keeps only 63 bytes"):
        run_operation(rename, "library", "0001_initial")
    assert snapshot() == library


def test_not_null_without_up_or_default(library):
    operation = AddCompatColumn("book", "weight", models.IntegerField())
    with pytest.raises(InvalidOperation, match="neither `up` nor a default"):
        run_operation(operation, "library", "0001_initial")
    assert snapshot() == library


@pytest.mark.parametrize(
    "up, detail",
    [("price_cents +", "syntax error"), ("nosuch * 2", "nosuch"), ("title", "integer")],
)
def test_bad_up_expression(library, up, detail):
    operation = AddCompatColumn("book", "weight", models.IntegerField(), up=up)
    with pytest.raises(InvalidOperation, match=f"(?s)AddCompatColumn.*{detail}"):
        run_operation(operation, "library", "0001_initial")
    assert snapshot() == library


def test_up_needs_a_key(library):
    rows("CREATE TABLE keyless (a int, b int)")
    before = snapshot()
    # A historical model whose table has neither a primary key nor a unique NOT NULL column.
    state = ProjectState()
    state.add_model(
        ModelState(
            "library",
            "Keyless",
            [("a", models.IntegerField(primary_key=True)), ("b", models.IntegerField())],
            options={"db_table": "keyless"},
        )
    )
    new_state = state.clone()
    operation = AddCompatColumn("keyless", "c", models.IntegerField(null=True), up="b * 2")
    operation.state_forwards("library", new_state)
    with pytest.raises(InvalidOperation, match="primary key or a unique NOT NULL column"):
        with connections["default"].schema_editor() as editor:
            operation.database_forwards("library", editor, state, new_state)
    assert snapshot() == before


def test_other_colour_cannot_join_the_pending_rollout(db):
    migrate("shop", "0001")
    migrate("library", "0001")
    migrate("library", "0002")  # green starts a rollout
    before = snapshot()
    with pytest.raises(RolloutConflict, match="compat complete.*compat rollback"):
        call_command("migrate", "shop", "0002", database="legacy", verbosity=0)
    assert snapshot() == before


def test_complete_refuses_while_legacy_sessions_are_connected(db):
    migrate("library", "0001")
    migrate("library", "0002")
    rows("SELECT 1", alias="legacy")  # a legacy (blue) Django session stays connected
    pid = rows("SELECT pg_backend_pid()", alias="legacy")[0][0]
    before = snapshot()
    with pytest.raises(CommandError, match=rf"(?s)blue session.*pid {pid}.*--force"):
        call_command("compat", "complete", verbosity=0)
    assert snapshot() == before
    with pytest.raises(SessionsConnected):
        lifecycle.complete("default")
    call_command("compat", "complete", "--force", verbosity=0)
    assert rows("SELECT status FROM compat_views_rollout") == [("completed",)]


def test_rollback_refuses_while_new_sessions_are_connected(db, conninfo):
    migrate("library", "0001")
    migrate("library", "0002")
    # Another green session (the new release's web worker, say) is connected.
    with psycopg.connect(conninfo, application_name="compat_green:web"):
        with pytest.raises(CommandError, match="(?s)green session.*compat_green:web"):
            compat("rollback")
    compat("rollback")
    assert rows("SELECT status FROM compat_views_rollout") == [("rolled_back",)]


def test_no_colour_configured(db, monkeypatch):
    migrate("library", "0001")
    before = snapshot()
    monkeypatch.delenv("COMPAT_VIEWS_COLOUR", raising=False)
    monkeypatch.delitem(connections["default"].settings_dict, "COMPAT_VIEWS_COLOUR")
    with override_settings(COMPAT_VIEWS_COLOUR=None):
        with pytest.raises(ConfigurationError, match="set COMPAT_VIEWS_COLOUR"):
            call_command("migrate", "library", "0002", verbosity=0)
    assert snapshot() == before


def test_nothing_pending(db):
    with pytest.raises(CommandError, match="No rollout is pending"):
        compat("complete")


@pytest.mark.parametrize(
    "operation, message",
    [
        (
            AlterCompatColumn(
                "book", "stock", models.BigIntegerField(), up="stock", down="stock +"
            ),
            "syntax error",
        ),
        (
            AlterCompatColumn("book", "stock", models.BigIntegerField(), up="stock", down="title"),
            "integer",
        ),
        (RemoveCompatColumn("book", "title"), "NOT NULL and has no default.*Pass `down`"),
        (RemoveCompatColumn("book", "title", down="nosuch"), "nosuch"),
        (
            AlterCompatColumn("book", "nosuch", models.IntegerField(), up="1", down="1"),
            "has no field 'nosuch'",
        ),
    ],
)
def test_bad_alter_and_remove(library, operation, message):
    with pytest.raises(InvalidOperation, match=f"(?s){message}"):
        run_operation(operation, "library", "0001_initial")
    assert snapshot() == library


def test_altering_a_referenced_column_is_refused(db):
    migrate("library", "0001")
    rows("CREATE TABLE loan (id int PRIMARY KEY, isbn varchar(20) REFERENCES library_book(isbn))")
    before = snapshot()
    operation = AlterCompatColumn(
        "book", "isbn", models.CharField(max_length=40, unique=True), up="isbn", down="isbn"
    )
    with pytest.raises(InvalidOperation, match="referenced by foreign keys"):
        run_operation(operation, "library", "0001_initial")
    assert snapshot() == before


@pytest.mark.parametrize(
    "setup, name, field",
    [
        ("", "id", models.BigAutoField(primary_key=True)),
        (
            "ALTER TABLE library_book ADD CONSTRAINT book_stock_excl "
            "EXCLUDE USING btree (stock WITH =)",
            "stock",
            models.BigIntegerField(),
        ),
    ],
    ids=["primary key", "exclusion constraint"],
)
def test_altering_a_column_whose_objects_cannot_be_carried_is_refused(db, setup, name, field):
    migrate("library", "0001")
    if setup:
        rows(setup)
    before = snapshot()
    operation = AlterCompatColumn("book", name, field, up=name, down=name)
    with pytest.raises(InvalidOperation, match="cannot carry over.*plain migration"):
        run_operation(operation, "library", "0001_initial")
    assert snapshot() == before
