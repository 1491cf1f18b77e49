"""A long transaction elsewhere makes the rollout wait and retry, never the application."""

from __future__ import annotations

import logging
import threading
import time

import psycopg

from tests.harness import columns, migrate

HOLD_SECONDS = 2.0


def test_rollout_waits_for_a_lock_while_the_application_keeps_writing(db, conninfo, caplog):
    migrate("library", "0001")
    held, released = threading.Event(), threading.Event()
    writes: list[float] = []
    errors: list[str] = []
    stop = threading.Event()

    def long_reader() -> None:
        with psycopg.connect(conninfo) as conn:  # not autocommit: one open transaction
            conn.execute("SELECT * FROM library_book")  # holds ACCESS SHARE until commit
            held.set()
            time.sleep(HOLD_SECONDS)
            conn.commit()
            released.set()

    def app_writer() -> None:
        """The running (legacy, blue) release, which writes `title` before and after."""
        options = "-c search_path=compat_blue,public"
        with psycopg.connect(conninfo, autocommit=True, options=options) as conn:
            n = 0
            while not stop.is_set():
                n += 1
                try:
                    conn.execute(
                        "INSERT INTO library_book (isbn, title, price_cents, stock) "
                        "VALUES (%s, 'x', 0, 0)",
                        [f"w{n}"],
                    )
                    writes.append(time.monotonic())
                except psycopg.Error as exc:
                    errors.append(str(exc))
                time.sleep(0.01)

    reader = threading.Thread(target=long_reader)
    writer = threading.Thread(target=app_writer)
    reader.start()
    assert held.wait(10)
    writer.start()
    hold_started = time.monotonic()
    with caplog.at_level(logging.INFO, logger="compat_views"):
        migrate("library", "0002")
    migrated_at = time.monotonic()
    stop.set()
    writer.join(10)
    reader.join(10)

    assert errors == []
    assert released.is_set()
    assert migrated_at - hold_started >= HOLD_SECONDS * 0.9  # the rollout waited for the lock
    assert any("lock busy, retrying" in r.message for r in caplog.records)
    during_hold = [t for t in writes if hold_started < t < hold_started + HOLD_SECONDS]
    assert len(during_hold) >= 10  # the application kept writing while the rollout waited
    assert columns("library_book")[2] == "name"
