"""An autovacuum of a touched table does not make the rollout give up.

PostgreSQL cancels an autovacuum that blocks a lock request only after the request has
waited ``deadlock_timeout``, longer than our lock_timeout; an autovacuum of a big table
runs for minutes or hours, so every try of a step would give up behind it. Here the
table's autovacuum is made slow (cost delay 100 ms a page) and fast to start again
(naptime 1 s), so it holds the table again whenever a step comes.
"""

from __future__ import annotations

import logging
import time

import psycopg
import pytest

from compat_views import sql
from compat_views.errors import LockTimeoutExhausted
from tests.conftest import admin
from tests.harness import compat, leftovers, migrate, rows

FILL = (
    "INSERT INTO {table} (customer, amount_cents) "
    "SELECT 'c' || g, g FROM generate_series(1, 40000) g"
)

VACUUMING = (
    "SELECT pid FROM pg_stat_activity WHERE backend_type = 'autovacuum worker' "
    "AND datname = current_database() AND query LIKE %s"
)


@pytest.fixture
def eager_autovacuum(pg_server):
    admin(pg_server, "ALTER SYSTEM SET autovacuum_naptime = 1")
    admin(pg_server, "SELECT pg_reload_conf()")
    yield
    admin(pg_server, "ALTER SYSTEM RESET autovacuum_naptime")
    admin(pg_server, "SELECT pg_reload_conf()")


def vacuum_slowly(
    conninfo: str, table: str = "shop_order", fill: str = FILL, parent: str | None = None
) -> int:
    """Give ``table`` dead rows enough for an autovacuum that crawls, and wait for it.

    Done as the superuser, who may set any table's reloptions and sees the worker's
    query whatever role the test migrates as. ``fill`` inserts into ``parent`` or the
    table itself.
    """
    with psycopg.connect(conninfo, autocommit=True) as su:
        su.execute(
            f"ALTER TABLE {table} SET (autovacuum_vacuum_cost_delay = 100, "
            "autovacuum_vacuum_cost_limit = 1)"
        )
        su.execute(fill.format(table=parent or table))
        su.execute(f"DELETE FROM {table} WHERE id % 2 = 0")
    return wait_for_autovacuum(conninfo, table)


def wait_for_autovacuum(conninfo: str, table: str = "shop_order", task: str = "VACUUM") -> int:
    """The pid of the autovacuum worker at ``task`` (VACUUM, ANALYZE) on ``table`` once
    there is one."""
    deadline = time.monotonic() + 60
    with psycopg.connect(conninfo, autocommit=True) as su:
        while time.monotonic() < deadline:
            found = su.execute(VACUUMING, [f"autovacuum: {task}% public.{table}%"]).fetchall()
            if found:
                return found[0][0]
            time.sleep(0.1)
    raise AssertionError(f"no autovacuum ({task}) of {table} started within 60 s")


def test_steps_wait_out_an_autovacuum_of_their_table(db, conninfo, eager_autovacuum, caplog):
    migrate("shop", "0001")
    vacuum_slowly(conninfo)
    with caplog.at_level(logging.INFO, logger="compat_views"):
        migrate("shop", "0002")  # the expand's lock, then the backfill
        wait_for_autovacuum(conninfo)  # it came back, and holds the table for complete
        compat("complete")  # the NOT NULL check, its validation, the final transaction
    waited = [r.message for r in caplog.records if r.message.startswith("waiting out autovacuum")]
    assert len(waited) >= 2, waited
    assert rows(
        "SELECT count(*), count(*) FILTER (WHERE amount = amount_cents / 100.0) FROM shop_order"
    ) == [(20000, 20000)]
    assert leftovers() == {}


def test_without_waiting_it_out_every_try_gives_up_and_names_it(
    db, conninfo, eager_autovacuum, monkeypatch, settings
):
    migrate("shop", "0001")
    vacuum_slowly(conninfo)
    monkeypatch.setattr(sql, "_outwait_autovacuum", lambda connection, relations: None)
    settings.COMPAT_VIEWS_DDL_ATTEMPTS = 3
    with pytest.raises(LockTimeoutExhausted, match=r"(?s)Gave up after 3 tries.*autovacuum worker"):
        migrate("shop", "0002")
    assert rows("SELECT to_regnamespace('compat_blue')") == [(None,)]
