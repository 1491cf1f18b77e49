"""A step locks only what its DDL locks, and never waits while it cannot let go of everything.

On the atlas app (``atlas_town.region_id`` references ``atlas_region``): completing
or rolling back a change of the towns alone leaves the regions unlocked, so a long
reader of them (a report, pg_dump) holds nothing up, and a migrating role that may
only reference the regions can still finish. A migration that mixes plain and
compat operations fails at once on a busy lock rather than keep writers waiting
behind the locks it already holds.
"""

from __future__ import annotations

import logging
import threading
import time

import psycopg
import pytest
from django.core import checks
from django.db import OperationalError, connections, migrations, models
from django.db.migrations.executor import MigrationExecutor
from psycopg import errors as pg_errors

from compat_views.errors import LocksHeld
from compat_views.lifecycle import lock_order
from compat_views.operations import RemoveCompatColumn, RenameCompatColumn
from tests.harness import apply_operations, columns, compat, leftovers, migrate, rows

PLATFORM, MIGRATOR, PASSWORD = "atlas_platform", "atlas_migrator", "atlas-pw"
STUCK_DEADLINE = 60  # seconds; only so that a step stuck in a lock queue fails the test


def test_lock_order_keeps_every_foreign_key_outside_a_cycle():
    """org and member reference each other; member also references country. The cycle
    cannot be ordered, but a member is still locked before the country it references."""
    country, org, member = ("public", "x_country"), ("public", "x_org"), ("public", "x_member")
    references = [(member, org), (org, member), (member, country)]
    order = lock_order([country, org, member], references)
    assert order.index(member) < order.index(country), order
    assert lock_order([country], []) == [country]


@pytest.mark.parametrize("action", ["complete", "rollback"])
def test_a_reader_of_an_untouched_referenced_table_does_not_hold_up_the_step(
    db, conninfo, settings, action
):
    """Only the towns change; their regions are read by a long transaction throughout."""
    settings.COMPAT_VIEWS_DDL_ATTEMPTS = 2
    migrate("atlas", "0001")
    apply_operations([RenameCompatColumn("town", "name", "title")], "atlas", "0001_initial")
    with psycopg.connect(conninfo) as reader:  # not autocommit: idle in transaction
        reader.execute("SELECT count(*) FROM atlas_region")
        try:
            compat(action, "--force")
        finally:
            reader.rollback()
    assert columns("atlas_town") == ["id", "title" if action == "complete" else "name", "region_id"]
    assert leftovers() == {}


@pytest.fixture
def migrator(db, conninfo):
    """The default alias migrates as a role that owns the towns but holds only SELECT and
    REFERENCES on the regions, which another role owns (auth_user in a shared database)."""
    migrate("atlas", "0001")
    with psycopg.connect(conninfo, autocommit=True) as su:
        for role in (PLATFORM, MIGRATOR):
            su.execute(
                f"DO $$ BEGIN CREATE ROLE {role} LOGIN PASSWORD '{PASSWORD}'; "
                "EXCEPTION WHEN duplicate_object THEN END $$"
            )
        su.execute(f"GRANT CREATE ON DATABASE {db} TO {MIGRATOR}")
        su.execute(f"GRANT CREATE, USAGE ON SCHEMA public TO {MIGRATOR}")
        su.execute(f"GRANT ALL ON ALL TABLES IN SCHEMA public TO {MIGRATOR}")
        su.execute(f"GRANT ALL ON ALL SEQUENCES IN SCHEMA public TO {MIGRATOR}")
        su.execute(f"ALTER TABLE atlas_town OWNER TO {MIGRATOR}")
        su.execute(f"ALTER TABLE atlas_region OWNER TO {PLATFORM}")
        su.execute(f"REVOKE ALL ON atlas_region FROM {MIGRATOR}")
        su.execute(f"GRANT SELECT, REFERENCES ON atlas_region TO {MIGRATOR}")
    connections.close_all()
    settings_dict = connections["default"].settings_dict
    original = settings_dict["USER"], settings_dict["PASSWORD"]
    settings_dict.update(USER=MIGRATOR, PASSWORD=PASSWORD)
    yield
    connections.close_all()
    settings_dict["USER"], settings_dict["PASSWORD"] = original


@pytest.mark.parametrize(
    "operation, action, expected",
    [
        (RenameCompatColumn("town", "name", "title"), "complete", ["id", "title", "region_id"]),
        (RenameCompatColumn("town", "name", "title"), "rollback", ["id", "name", "region_id"]),
        # dropping the foreign key's column locks the regions: the DROP does that itself
        (RemoveCompatColumn("town", "region", down="1"), "complete", ["id", "name"]),
    ],
)
def test_a_role_that_may_only_reference_the_parent_completes_and_rolls_back(
    migrator, operation, action, expected
):
    apply_operations([operation], "atlas", "0001_initial")
    compat(action, "--force")
    assert columns("atlas_town") == expected


def test_a_low_deadlock_timeout_is_reported_where_migrate_runs(db, settings):
    settings.COMPAT_VIEWS_LOCK_TIMEOUT_MS = 400

    def ours() -> list:
        found = checks.run_checks(databases=["default"])
        return [message for message in found if message.id.startswith("compat_views.")]

    assert ours() == []
    rows(f"ALTER DATABASE {db} SET deadlock_timeout = '300ms'")
    connections.close_all()
    found = ours()
    assert [m.id for m in found] == ["compat_views.W002"], found
    assert "deadlock_timeout = 300ms" in found[0].msg


class Complete(threading.Thread):
    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.error = None

    def run(self) -> None:
        try:
            compat("complete", "--force")  # the test's own Django sessions are connected
        except Exception as exc:  # reported by the test
            self.error = exc
        finally:
            connections.close_all()


def waiting_for(conninfo: str, table: str) -> bool:
    with psycopg.connect(conninfo, autocommit=True) as conn:
        return conn.execute(
            "SELECT EXISTS (SELECT FROM pg_locks WHERE relation = %s::regclass AND NOT granted)",
            [table],
        ).fetchone()[0]


def test_a_step_that_postgres_fails_as_a_deadlock_runs_again(db, conninfo, settings, caplog):
    """An application transaction reads the regions, then the towns: the order no step
    follows. The step holds the towns and waits for the regions, longer than its
    deadlock_timeout (1 s, the default; the application's is longer), so Postgres fails
    the step, which lets go of everything and runs again once the reader is done."""
    settings.COMPAT_VIEWS_LOCK_TIMEOUT_MS = 20_000  # each of its 4 relations gets 5 s
    migrate("atlas", "0001")
    renames = [
        RenameCompatColumn("town", "name", "title"),
        RenameCompatColumn("region", "name", "label"),
    ]
    apply_operations(renames, "atlas", "0001_initial")
    with psycopg.connect(conninfo) as app, caplog.at_level(logging.INFO, "compat_views"):
        app.execute("SET deadlock_timeout = '30s'")
        app.execute("SELECT count(*) FROM atlas_region")
        step = Complete()
        step.start()
        while not waiting_for(conninfo, "atlas_region") and step.is_alive():
            time.sleep(0.01)
        reading = threading.Thread(target=app.execute, args=["SELECT count(*) FROM atlas_town"])
        reading.start()  # waits for the step's towns: a cycle
        reading.join()
        app.commit()
        step.join()
    assert step.error is None
    assert any("lock busy, retrying" in r.message for r in caplog.records)
    assert columns("atlas_town") == ["id", "title", "region_id"]
    assert leftovers() == {}


# Mixed migrations ----------------------------------------------------------------------


RENAME_TOWN_NAME = RenameCompatColumn("town", "name", "title")
ADD_REGION_CODE = migrations.AddField("region", "code", models.TextField(null=True))


def run_migration(operations, *, backwards: bool = False) -> None:
    """Apply or unapply ``operations`` as one migration of atlas after 0001, in one
    transaction, as ``manage.py migrate`` does (the migration is on the call stack)."""
    connection = connections["default"]
    state = MigrationExecutor(connection).loader.project_state(("atlas", "0001_initial"))
    migration = migrations.Migration("0002_mixed", "atlas")
    migration.operations = list(operations)
    with connection.schema_editor(atomic=True) as editor:
        if backwards:
            migration.unapply(state, editor)
        else:
            migration.apply(state, editor)


class Migrating(threading.Thread):
    def __init__(self, operations, backwards: bool) -> None:
        super().__init__(daemon=True)
        self.operations, self.backwards, self.error = operations, backwards, None

    def run(self) -> None:
        try:
            run_migration(self.operations, backwards=self.backwards)
        except Exception as exc:  # reported by the test
            self.error = exc
        finally:
            connections.close_all()


@pytest.mark.parametrize(
    "operations, backwards",
    [
        ([RENAME_TOWN_NAME, ADD_REGION_CODE], False),  # the plain one runs after the step
        ([ADD_REGION_CODE, RENAME_TOWN_NAME], True),  # backwards, Django reverses it after
    ],
)
def test_a_plain_operation_after_a_step_gives_up_on_a_busy_lock(
    db, conninfo, operations, backwards
):
    """The step's locks of the towns must not be held while the plain operation queues
    for the regions behind a reader of them: it gives up under the step's lock_timeout."""
    migrate("atlas", "0001")
    if backwards:
        run_migration(operations)
    with psycopg.connect(conninfo) as reader:
        reader.execute("SELECT count(*) FROM atlas_region")
        migrating = Migrating(operations, backwards)
        migrating.start()
        try:
            migrating.join(STUCK_DEADLINE)
            assert not migrating.is_alive(), "queued for the regions, holding the towns"
        finally:
            reader.rollback()
            migrating.join()
    assert isinstance(migrating.error, OperationalError), migrating.error
    assert isinstance(migrating.error.__cause__, pg_errors.LockNotAvailable)
    expected = ["id", "name", "region_id"] if not backwards else ["id", "title", "region_id"]
    assert columns("atlas_town") == expected  # the whole migration rolled back


def test_a_step_after_a_plain_operation_fails_at_once_on_a_busy_lock(
    db, conninfo, caplog, settings
):
    """Backwards, Django reverses the plain AddField first and keeps the regions locked:
    the compat undo, finding the towns busy, must not retry while it holds them."""
    settings.COMPAT_VIEWS_DDL_ATTEMPTS = 3
    migrate("atlas", "0001")
    operations = [RENAME_TOWN_NAME, ADD_REGION_CODE]
    run_migration(operations)
    with psycopg.connect(conninfo) as reader, caplog.at_level(logging.INFO, "compat_views"):
        reader.execute("SELECT count(*) FROM atlas_town")
        try:
            with pytest.raises(LocksHeld, match="separate migrations"):
                run_migration(operations, backwards=True)
        finally:
            reader.rollback()
    assert not [r for r in caplog.records if "lock busy" in r.message]
    assert columns("atlas_region") == ["id", "name", "code"]  # rolled back, both kinds
    assert columns("atlas_town") == ["id", "title", "region_id"]
