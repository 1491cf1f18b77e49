"""Waiting out an autovacuum as production runs: a migration role that is no superuser,
partitioned tables, sqlmigrate, a manual VACUUM and an autovacuum that prevents
wraparound (neither may be cancelled), and the message naming many lock holders.

A role that is neither a superuser nor in ``pg_read_all_stats`` sees an autovacuum
worker's pg_stat_activity row with ``backend_type`` and ``query`` hidden, and another
role's sessions with their state and query hidden; a partitioned table is never
vacuumed itself, only its leaves, which its ``LOCK`` locks too.
"""

from __future__ import annotations

import io
import logging
import re
import threading
import time
from contextlib import ExitStack

import psycopg
import pytest
from django.core.management import call_command
from django.db import connections, migrations, models

from compat_views.errors import LocksHeld, LockTimeoutExhausted
from compat_views.operations import AddCompatColumn
from tests.harness import apply_operations, compat, leftovers, migrate, rows
from tests.test_autovacuum import FILL, eager_autovacuum, vacuum_slowly, wait_for_autovacuum
from tests.test_privileges import BLUE, MIGRATOR, OWNER, create_roles, session, use_role

__all__ = ["eager_autovacuum"]  # a fixture the tests below use

READINGS = (
    "INSERT INTO {table} (sensor, value_milli) SELECT 's', g FROM generate_series(1, 40000) g"
)
ADD_INDEXED_CODE = AddCompatColumn(
    "order", "code", models.CharField(max_length=40, db_index=True), up="'c' || id"
)
ADD_VALUE = AddCompatColumn(
    "reading",
    "value",
    models.DecimalField(max_digits=12, decimal_places=3),
    up="value_milli / 1000.0",
)


def waited(caplog) -> list[str]:
    return [r.message for r in caplog.records if r.message.startswith("waiting out autovacuum")]


def shop_migrated_as(conninfo: str, db: str, role: str | None) -> None:
    """Release 1 of shop migrated by its owner; ``role`` (None: the superuser) to
    migrate release 2."""
    if role is None:
        migrate("shop", "0001")
        return
    create_roles(conninfo, db)
    use_role("default", OWNER)
    migrate("shop", "0001")
    use_role("default", role)


def running(conninfo: str, pid: int) -> str | None:
    """What backend ``pid`` runs, as the superuser sees it (None once it is gone)."""
    with psycopg.connect(conninfo, autocommit=True) as su:
        found = su.execute("SELECT query FROM pg_stat_activity WHERE pid = %s", [pid]).fetchone()
    return found and found[0]


def vacuum_until_cancelled(conn: psycopg.Connection) -> None:
    try:
        conn.execute("VACUUM shop_order")
    except psycopg.errors.QueryCanceled:
        pass


def test_a_migration_role_that_is_no_superuser_waits_it_out_too(
    db, conninfo, eager_autovacuum, caplog
):
    shop_migrated_as(conninfo, db, MIGRATOR)
    vacuum_slowly(conninfo)
    with caplog.at_level(logging.INFO, logger="compat_views"):
        migrate("shop", "0002")
        wait_for_autovacuum(conninfo)
        compat("complete")
    assert len(waited(caplog)) >= 2, waited(caplog)
    assert rows("SELECT count(*) FROM shop_order WHERE amount IS NULL") == [(0,)]
    assert leftovers() == {}
    connections.close_all()


def test_an_autovacuum_of_a_partition_is_waited_out(db, conninfo, eager_autovacuum, caplog):
    migrate("partitioned", "0001")
    leaf = "partitioned_reading_high"
    vacuum_slowly(conninfo, leaf, READINGS, parent="partitioned_reading")
    with caplog.at_level(logging.INFO, logger="compat_views"):
        apply_operations([ADD_VALUE], "partitioned", "0001_initial")  # LOCK on the parent
        wait_for_autovacuum(conninfo, leaf)
        compat("complete")  # the NOT NULL check, added on the parent, recurses
    assert len(waited(caplog)) >= 2, waited(caplog)
    assert rows("SELECT count(*) FROM partitioned_reading WHERE value IS NULL") == [(0,)]
    assert leftovers() == {}


def test_an_autovacuum_that_only_analyzes_is_waited_out(db, conninfo, eager_autovacuum, caplog):
    migrate("shop", "0001")
    rows(
        "ALTER TABLE shop_order SET (autovacuum_vacuum_insert_threshold = -1, "
        "autovacuum_vacuum_cost_delay = 100, autovacuum_vacuum_cost_limit = 1)"
    )
    rows(FILL.format(table="shop_order"))  # no dead rows: nothing to vacuum
    wait_for_autovacuum(conninfo, task="ANALYZE")
    with caplog.at_level(logging.INFO, logger="compat_views"):
        migrate("shop", "0002")
    assert waited(caplog), "the ANALYZE was not waited out"
    assert rows("SELECT count(*) FROM shop_order WHERE amount IS NULL") == [(0,)]


def test_the_backfill_s_dead_rows_bring_it_back_and_the_index_build_waits_it_out(
    db, conninfo, eager_autovacuum, caplog
):
    """The backfill updates every row: an autovacuum of the table starts right after
    it, in the way of the concurrent index build that comes next."""
    migrate("shop", "0001")
    vacuum_slowly(conninfo)
    with caplog.at_level(logging.INFO, logger="compat_views"):
        apply_operations([ADD_INDEXED_CODE], "shop", "0001_initial")
        wait_for_autovacuum(conninfo)
        compat("complete")
    assert len(waited(caplog)) >= 2, waited(caplog)
    valid = "SELECT indisvalid FROM pg_index WHERE indrelid = 'shop_order'::regclass"
    assert all(ok for (ok,) in rows(valid))
    assert leftovers() == {}


def test_a_step_holding_another_table_does_not_wait_it_out(db, conninfo, eager_autovacuum, caplog):
    """A plain operation before it in the migration holds a table that blocks writers:
    waiting for deadlock_timeout would keep them waiting, so the step fails at once,
    as behind any busy lock (``sql.step``)."""
    migrate("shop", "0001")
    rows("CREATE TABLE review_other (id int)")
    vacuum_slowly(conninfo)
    plain = migrations.RunSQL("LOCK TABLE review_other IN ACCESS EXCLUSIVE MODE")
    add = AddCompatColumn("order", "code", models.CharField(max_length=40, null=True))
    with caplog.at_level(logging.INFO, logger="compat_views"):
        with pytest.raises(LocksHeld, match="separate migrations"):
            apply_operations([plain, add], "shop", "0001_initial")
    assert waited(caplog) == []


def test_sqlmigrate_leaves_an_autovacuum_alone(db, conninfo, eager_autovacuum, caplog):
    migrate("shop", "0001")
    pid = vacuum_slowly(conninfo)
    with caplog.at_level(logging.INFO, logger="compat_views"):
        call_command("sqlmigrate", "shop", "0002", stdout=io.StringIO())
    assert waited(caplog) == []
    assert running(conninfo, pid).startswith("autovacuum: VACUUM")  # not cancelled


def test_a_manual_vacuum_is_not_cancelled(db, conninfo, settings):
    """Only an autovacuum is waited out: a VACUUM someone runs is theirs to end, so the
    step just tries again, and gives up naming it."""
    migrate("shop", "0001")
    create_roles(conninfo, db)
    rows("ALTER TABLE shop_order SET (autovacuum_enabled = false)")
    rows(FILL.format(table="shop_order"))
    use_role("default", MIGRATOR)
    settings.COMPAT_VIEWS_DDL_ATTEMPTS = 2
    with psycopg.connect(conninfo, autocommit=True) as vacuum:
        vacuum.execute("SET vacuum_cost_delay = 100")
        vacuum.execute("SET vacuum_cost_limit = 1")
        pid = vacuum.info.backend_pid
        worker = threading.Thread(target=lambda: vacuum_until_cancelled(vacuum))
        worker.start()
        try:
            deadline = time.monotonic() + 30
            while running(conninfo, pid) != "VACUUM shop_order":
                assert time.monotonic() < deadline and worker.is_alive(), "VACUUM never ran"
                time.sleep(0.05)
            with pytest.raises(LockTimeoutExhausted, match=r"Gave up after 2 tries") as raised:
                migrate("shop", "0002")
            assert running(conninfo, pid) == "VACUUM shop_order"
        finally:
            with psycopg.connect(conninfo, autocommit=True) as su:
                su.execute("SELECT pg_cancel_backend(%s)", [pid])
            worker.join()
    assert f"pid {pid} " in str(raised.value), str(raised.value)
    connections.close_all()


def test_the_message_about_many_holders_names_five_and_counts_the_rest(db, conninfo, settings):
    """Fifty writers of the legacy colour in open transactions, behind a reader that
    began first: the message names five, the reader first, and says how many more
    there are. The migration role sees the writers' rows hidden, and says whose they
    are."""
    migrate("shop", "0001")
    create_roles(conninfo, db)
    rows(f"GRANT SELECT, INSERT, UPDATE, DELETE ON shop_order TO {BLUE}")
    settings.COMPAT_VIEWS_DDL_ATTEMPTS = 1
    with ExitStack() as stack:
        reader = stack.enter_context(session(conninfo, MIGRATOR))
        reader.execute("BEGIN")
        reader.execute("SELECT count(*) FROM shop_order")
        for _ in range(50):
            writer = stack.enter_context(session(conninfo, BLUE))
            writer.execute("BEGIN")
            writer.execute("INSERT INTO shop_order (customer, amount_cents) VALUES ('w', 1)")
        use_role("default", MIGRATOR)
        with pytest.raises(LockTimeoutExhausted) as raised:
            migrate("shop", "0002")
        message = str(raised.value)
        reader_pid = reader.info.backend_pid
    listed = re.findall(r"^    pid (\d+) \(([^)]*)\)", message, re.MULTILINE)
    assert len(listed) == 5 and listed[0][0] == str(reader_pid), message
    assert all(kind == f"role {BLUE}, {BLUE}" for _, kind in listed[1:]), message
    assert "and 46 more" in message, message
    connections.close_all()


BURN = """
CREATE PROCEDURE pg_temp.burn(n int) LANGUAGE plpgsql AS $$
BEGIN FOR i IN 1..n LOOP PERFORM pg_catalog.pg_current_xact_id(); COMMIT; END LOOP; END $$
"""


@pytest.mark.parametrize("role", [None, MIGRATOR])
def test_an_autovacuum_that_prevents_wraparound_is_not_waited_out(
    db, conninfo, eager_autovacuum, settings, caplog, role
):
    """PostgreSQL never cancels it: the step gives up as behind any lock, without
    waiting deadlock_timeout a try for nothing, whether or not it sees the query."""
    shop_migrated_as(conninfo, db, role)
    with psycopg.connect(conninfo, autocommit=True) as su:
        su.execute(
            "ALTER TABLE shop_order SET (autovacuum_freeze_max_age = 100000, "
            "autovacuum_vacuum_cost_delay = 100, autovacuum_vacuum_cost_limit = 1)"
        )
        su.execute(FILL.format(table="shop_order"))
        su.execute(BURN)
        su.execute("CALL pg_temp.burn(100001)")
    pid = wait_for_autovacuum(conninfo, "shop_order (to prevent wraparound)")
    settings.COMPAT_VIEWS_DDL_ATTEMPTS = 2
    with caplog.at_level(logging.INFO, logger="compat_views"):
        with pytest.raises(LockTimeoutExhausted, match="Gave up after 2 tries"):
            migrate("shop", "0002")
    assert waited(caplog) == []
    assert running(conninfo, pid).endswith("(to prevent wraparound)")
    connections.close_all()
