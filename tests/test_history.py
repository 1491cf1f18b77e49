"""Django's migration history around a rollout, and what a rollout needs and leaves behind.

Rollback with later migrations applied; a non-atomic migration; a role that may not
create schemas; pgtrigger's helper function after complete and rollback.
"""

import pgtrigger
import pytest
from django.core.management.base import CommandError
from django.db import DatabaseError, connections
from django.db.migrations.loader import MigrationLoader

from compat_views.errors import InvalidOperation
from tests.harness import applied, compat, leftovers, migrate, model_at, rows
from tests.test_bad_input import snapshot


def check_history() -> None:
    """What the next ``migrate`` checks first: every applied migration's parents are applied."""
    connection = connections["default"]
    MigrationLoader(connection).check_consistent_history(connection)


def ignore_functions() -> list[tuple]:
    """Where pgtrigger's ``_pgtrigger_should_ignore`` exists."""
    return rows(
        "SELECT pronamespace::regnamespace::text FROM pg_proc WHERE proname = %s",
        ["_pgtrigger_should_ignore"],
    )


def test_rollback_refuses_while_a_later_migration_depends_on_the_rollout(db):
    migrate("ledger", "0001")
    migrate("ledger", "0003")  # 0002 is the compat migration, 0003 a plain one after it
    before = snapshot()
    for force in ([], ["--force"]):  # unrecording 0002 would break the history either way
        with pytest.raises(
            CommandError,
            match=r"(?s)ledger\.0002_rename_memo.*ledger\.0003_add_flag"
            r".*`manage.py migrate ledger 0001_initial`",
        ):
            compat("rollback", *force)
        assert snapshot() == before
    check_history()
    migrate("ledger", "0001")  # what the message says to run instead
    assert applied("ledger") == ["0001_initial"]
    assert leftovers() == {}
    check_history()
    migrate("ledger", "0003")
    compat("complete")
    assert leftovers() == {}


def test_rollback_refuses_when_this_release_does_not_know_a_later_migration(db):
    migrate("ledger", "0001")
    migrate("ledger", "0002")
    migrate("library", "0001")  # applied during the rollout too, but known not to depend on it
    # The new release applied a migration the release running rollback has no file for.
    rows("INSERT INTO django_migrations (app, name, applied) VALUES ('ledger', '0009_next', now())")
    before = snapshot()
    with pytest.raises(CommandError, match=r"(?s)ledger\.0009_next.*the release that applied") as e:
        compat("rollback")
    assert "library" not in str(e.value)
    assert snapshot() == before
    rows("DELETE FROM django_migrations WHERE name = '0009_next'")
    # As the old release sees it: it has no file for the rollout's own migration either.
    rows("UPDATE django_migrations SET name = '0002_new' WHERE name = '0002_rename_memo'")
    rows("UPDATE compat_views_appliedoperation SET migration = '0002_new'")
    compat("rollback")
    assert applied("ledger") == ["0001_initial"] and applied("library") == ["0001_initial"]
    check_history()


def test_non_atomic_migration_with_compat_operations_is_refused_before_anything_runs(db, settings):
    migrate("ledger", "0001")
    before = snapshot()
    with pytest.raises(InvalidOperation, match=r"(?s)ledger\.0004_add_tax.*atomic = False"):
        migrate("ledger", "0004")  # 0002 and 0003 would run first: nothing runs
    assert snapshot() == before
    settings.COMPAT_VIEWS_PLAIN_MIGRATIONS = True  # no rollout: the plain twins need none
    migrate("ledger", "0004")
    assert applied("ledger")[-1] == "0004_add_tax"


def test_migrate_without_create_on_the_database_names_the_privilege(db):
    migrate("ledger", "0001")
    rows("DO $$ BEGIN CREATE ROLE compat_migrator; EXCEPTION WHEN duplicate_object THEN END $$")
    rows("ALTER TABLE ledger_entry OWNER TO compat_migrator")
    rows("GRANT ALL ON ALL TABLES IN SCHEMA public TO compat_migrator")
    rows("GRANT ALL ON ALL SEQUENCES IN SCHEMA public TO compat_migrator")
    before = snapshot()
    grant = f'GRANT CREATE ON DATABASE "{db}" TO "compat_migrator"'
    rows("SET ROLE compat_migrator")
    try:
        with pytest.raises(InvalidOperation, match=rf"(?s)CREATE privilege.*{grant}"):
            migrate("ledger", "0002")
    finally:
        rows("RESET ROLE")
    assert snapshot() == before
    rows(grant)  # what the message says to run
    rows("SET ROLE compat_migrator")
    try:
        migrate("ledger", "0002")
    finally:
        rows("RESET ROLE")
    assert applied("ledger")[-1] == "0002_rename_memo"


def test_pgtrigger_helper_goes_with_our_triggers_unless_another_trigger_uses_it(db):
    migrate("shop", "0001")
    migrate("shop", "0002")  # sync triggers, installed through pgtrigger's SQL
    assert ignore_functions() == [("public",)]
    compat("rollback")
    assert ignore_functions() == [] and leftovers() == {}

    Order = model_at("shop", "0001_initial", "Order")
    protect = pgtrigger.Protect(name="protect_deletes", operation=pgtrigger.Delete)
    rows(str(protect.compile(Order).install_sql))  # the project's own pgtrigger trigger
    rows("INSERT INTO shop_order (customer, amount_cents) VALUES ('ada', 1)")
    migrate("shop", "0002")
    compat("complete")
    assert ignore_functions() == [("public",)] and leftovers() == {}
    with pytest.raises(DatabaseError, match="Cannot delete"):
        rows("DELETE FROM shop_order")
