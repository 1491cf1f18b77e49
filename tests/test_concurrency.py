"""Writers of both colours keep writing, on their own connections, while the lifecycle runs.

Expand runs under legacy traffic, both colours write during the rollout, complete
runs under new-colour traffic and rollback under legacy traffic: zero errors, and
every row any writer committed is there at the end.
"""

from __future__ import annotations

import time

import psycopg
from django.test import override_settings

from tests.harness import ColourWriter, columns, compat, leftovers, migrate, rows

SEED = 3000


class Writer(ColourWriter):
    """Inserts (and now and then updates) orders as one colour."""

    def step(self, conn: psycopg.Connection, n: int) -> None:
        if self.colour == "blue":
            statement = (
                "INSERT INTO shop_order (customer, amount_cents) VALUES (%s, %s) RETURNING id",
                [self.name, n],
            )
        else:
            statement = (
                "INSERT INTO shop_order (customer, amount_cents, amount, status, note) "
                "VALUES (%s, %s, %s / 100.0, 'new', NULL) RETURNING id",
                [self.name, n, n],
            )
        (row_id,) = conn.execute(*statement).fetchone()
        self.inserted += 1
        if n % 10 == 0 and self.colour == "blue":
            conn.execute(
                "UPDATE shop_order SET amount_cents = amount_cents + 1 WHERE id = %s", [row_id]
            )


def start(conninfo: str, colour: str, count: int = 2) -> list[Writer]:
    writers = [Writer(conninfo, colour, f"{colour}{i}") for i in range(count)]
    for writer in writers:
        writer.start()
    return writers


def stop(writers: list[Writer]) -> None:
    """Stop the writers and wait until the server has let their sessions go."""
    for writer in writers:
        writer.finish()
    names = [f"compat_{w.colour}:{w.name}" for w in writers]
    deadline = time.monotonic() + 10
    while (
        rows("SELECT count(*) FROM pg_stat_activity WHERE application_name = ANY(%s)", [names])[0][
            0
        ]
        and time.monotonic() < deadline
    ):
        time.sleep(0.02)


def seed_and_expand_under_traffic(conninfo: str) -> tuple[list[Writer], list[Writer]]:
    migrate("shop", "0001")
    rows(
        "INSERT INTO shop_order (customer, amount_cents) "
        "SELECT 'seed', g FROM generate_series(1, %s) g",
        [SEED],
    )
    legacy = start(conninfo, "blue")
    time.sleep(0.3)
    with override_settings(COMPAT_VIEWS_BACKFILL_BATCH_SIZE=400):
        migrate("shop", "0002")  # expand + backfill while blue writes
    new = start(conninfo, "green")
    time.sleep(0.5)  # both colours write
    return legacy, new


def assert_clean(writers: list[Writer]) -> None:
    errors = [e for w in writers for e in w.errors]
    assert errors == []
    assert all(w.inserted > 0 for w in writers)
    total = SEED + sum(w.inserted for w in writers)
    assert rows("SELECT count(*) FROM shop_order")[0][0] == total


def test_complete_under_new_colour_traffic(db, conninfo):
    legacy, new = seed_and_expand_under_traffic(conninfo)
    stop(legacy)  # the old release is retired before complete
    compat("complete")  # while green keeps writing
    time.sleep(0.3)
    stop(new)
    assert_clean(legacy + new)
    assert leftovers() == {}
    mismatched = rows(
        "SELECT count(*) FROM shop_order WHERE amount IS DISTINCT FROM amount_cents / 100.0"
    )
    assert mismatched == [(0,)]


def test_rollback_under_legacy_traffic(db, conninfo):
    legacy, new = seed_and_expand_under_traffic(conninfo)
    stop(new)  # the new release is withdrawn before rollback
    compat("rollback")  # while blue keeps writing
    time.sleep(0.3)
    stop(legacy)
    assert_clean(legacy + new)
    assert leftovers() == {}
    assert columns("shop_order") == ["id", "customer", "amount_cents"]
