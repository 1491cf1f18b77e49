"""Compat operations on a table the same ``migrate`` created run as their plain twins.

A fresh database (a CI database, a developer's) needs no setting: no rollout opens,
and the schema is the one ``COMPAT_VIEWS_PLAIN_MIGRATIONS`` gives. A table that
existed before the run still gets a rollout. Django's test runner and pytest-django
are in ``test_test_runners``.
"""

from __future__ import annotations

import pytest
from django.apps import apps
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connections
from django.db.migrations.executor import MigrationExecutor
from django.db.models.signals import pre_migrate
from django.test import override_settings

from compat_views import fresh
from compat_views.models import Rollout
from tests.conftest import TEMPLATE, _point_aliases_at, admin
from tests.harness import columns, compat, leftovers, migrate, rows
from tests.test_bad_input import snapshot

# Apps whose compat migrations cover every kind of operation, each migrated in one run.
APPS = [("library", "0003"), ("shop", "0002"), ("shelf", "0002"), ("atlas", "0002")]


def schema() -> list:
    """``snapshot()`` plus every constraint and index, by name and definition."""
    return snapshot() + rows(
        """
        SELECT 'constraint', conrelid::regclass::text || ' ' || conname || ' '
               || pg_get_constraintdef(oid)
        FROM pg_constraint WHERE connamespace = 'public'::regnamespace
        UNION ALL SELECT 'index', indexdef FROM pg_indexes WHERE schemaname = 'public'
        ORDER BY 1, 2
        """
    )


@pytest.fixture
def other_database(pg_server, db):
    """Switch both aliases to another database (from the template, or empty)."""
    made = []

    def use(template: str | None = TEMPLATE) -> None:
        name = f"{db}_{len(made)}"
        admin(pg_server, f"CREATE DATABASE {name}" + (f" TEMPLATE {template}" if template else ""))
        made.append(name)
        _point_aliases_at(pg_server, name)

    yield use
    connections.close_all()
    for name in made:
        admin(pg_server, f"DROP DATABASE {name} WITH (FORCE)")


def migrate_apps() -> None:
    for app, target in APPS:
        migrate(app, target)


def test_migrate_from_zero_runs_compat_operations_as_their_plain_twins(db, other_database):
    migrate_apps()
    assert Rollout.objects.count() == 0 and leftovers() == {}
    assert columns("library_book")[2::3] == ["name", "subtitle"]  # 0002's rename, 0003's add
    fresh = schema()

    other_database()
    with override_settings(COMPAT_VIEWS_PLAIN_MIGRATIONS=True):
        migrate_apps()
    assert schema() == fresh

    migrate("library", "zero")  # going back is the plain backwards too
    assert "library_book" not in connections["default"].introspection.table_names()


def test_a_table_that_existed_before_the_run_still_opens_a_rollout(db):
    migrate("library", "0001")
    migrate("library", "0002")
    rollout = Rollout.objects.get(status=Rollout.PENDING)
    assert [t.table for t in rollout.tables.all()] == ["library_book"]
    assert columns("library_book")[2] == "name"
    assert rows("SELECT count(*) FROM information_schema.views WHERE table_schema = 'compat_blue'")[
        0
    ] == (1,)


def test_a_fresh_database_needs_no_colour_and_no_state_tables_beforehand(
    db, other_database, monkeypatch
):
    other_database(template=None)  # not even compat_views' own tables
    monkeypatch.delenv("COMPAT_VIEWS_COLOUR", raising=False)
    monkeypatch.delitem(connections["default"].settings_dict, "COMPAT_VIEWS_COLOUR")
    with override_settings(COMPAT_VIEWS_COLOUR=None):
        migrate("shelf", "0002")  # creates compat_views' 0001 tables in the same run
        assert Rollout.objects.count() == 0 and leftovers() == {}
        assert columns("shelf_writer") == ["id", "full_name"]
        migrate("shelf", "zero")
    assert "shelf_writer" not in connections["default"].introspection.table_names()


def test_a_crashed_migrate_leaves_nothing_that_changes_a_later_run(db):
    def crash(**kwargs):
        raise RuntimeError("the process died")

    ours = apps.get_app_config("compat_views")
    pre_migrate.connect(crash, sender=ours, dispatch_uid="test_fresh.crash")  # after ours
    try:
        with pytest.raises(RuntimeError):
            migrate("shop", "0002")  # noted that shop_order did not exist, then died
    finally:
        pre_migrate.disconnect(sender=ours, dispatch_uid="test_fresh.crash")
    assert "default" in fresh._snapshots  # left behind
    assert "shop_order" not in connections["default"].introspection.table_names()

    # The executor straight away (no migrate command, no signals): shop_order exists by
    # the time 0002 runs, and that run noted nothing, so it is a rollout.
    executor = MigrationExecutor(connections["default"])
    executor.migrate([("shop", "0001_initial")])
    executor = MigrationExecutor(connections["default"])
    executor.migrate([("shop", "0002_add_amount_status_note")])
    assert Rollout.objects.get().tables.get().table == "shop_order"
    call_command("compat", "rollback", verbosity=0)


def test_rollback_refuses_a_migration_whose_compat_operation_ran_plain(db, settings):
    settings.INSTALLED_APPS = [*settings.INSTALLED_APPS, "tests.scenarios.annex"]
    # Another release than the one that migrated the template: say that blue serves it.
    call_command("compat", "live", "blue", verbosity=0)
    migrate("annex", "0001")
    migrate("annex", "0003")  # 0002 creates annex_room in this run; 0003 renames in both
    assert [t.table for t in Rollout.objects.get().tables.all()] == ["annex_hall"]
    assert columns("annex_hall") == ["id", "title"] and columns("annex_room") == ["id", "tag"]
    views = "SELECT table_name FROM information_schema.views WHERE table_schema = 'compat_blue'"
    assert rows(views) == [("annex_hall",)]

    # Unrecording 0003 would leave annex_room renamed: Django must reverse it.
    with pytest.raises(CommandError, match="(?s)annex.0003_renames also contain.*ran as plain"):
        compat("rollback")
    migrate("annex", "0001")
    assert columns("annex_hall") == ["id", "name"]
    assert "annex_room" not in connections["default"].introspection.table_names()
    assert leftovers() == {}
