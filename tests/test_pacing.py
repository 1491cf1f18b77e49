"""Backfill pacing: adaptive batch sizes, the WAL-rate cap, the replica-lag limit's
settings and privileges, and the rows/s, ETA and pause notes people read."""

from __future__ import annotations

import io
import json
import re
import threading
import time

import pytest
from django.core.management import call_command
from django.db import connections
from django.test import override_settings

from compat_views import backfill, conf, pacing
from compat_views.errors import ConfigurationError
from tests.harness import migrate, rows
from tests.test_backfill import ROWS, interrupted_after_one_batch


@pytest.mark.parametrize(
    "size, elapsed, expected",
    [
        (1000, 0.1, 2000),  # half the target: twice the keys
        (1000, 0.01, 2000),  # far under: at most doubled
        (1000, 0.0, 2000),  # too quick to time
        (1000, 0.25, 800),  # a little over: a little smaller
        (1000, 10.0, 500),  # far over: at most halved
        (1000, 0.2, 1000),  # on target: kept
        (150, 1.0, pacing.MIN_BATCH),
        (80_000, 0.05, pacing.MAX_BATCH),
    ],
)
def test_the_batch_grows_under_its_target_and_shrinks_over_it(size, elapsed, expected):
    assert pacing.next_batch_size(size, elapsed, target=0.2) == expected


def test_batches_of_steady_cost_settle_on_the_target():
    size, per_key = pacing.FIRST_BATCH, 0.00002  # 20 µs a key: 10,000 keys in 200 ms
    for _ in range(20):
        size = pacing.next_batch_size(size, size * per_key, target=0.2)
    assert size == 10_000


def test_the_wal_budget_starts_empty_and_saves_up_at_most_a_burst():
    budget = pacing.WalBudget(rate=1000, now=0.0)
    assert budget.spend(500, now=0.1) == pytest.approx(0.4)  # paid from the start
    assert budget.spend(1000, now=0.5) == pytest.approx(1.0)
    # Ten idle seconds save up only BURST seconds of budget.
    assert budget.spend(1000 * pacing.BURST, now=11.5) == 0.0
    assert budget.spend(500, now=11.5) == pytest.approx(0.5)


def test_the_wal_clock_tells_how_long_ago_a_replay_position_was_the_newest():
    clock = pacing.WalClock()
    for now, position in [(0.0, 100), (1.0, 100), (2.0, 300), (3.0, 700)]:
        clock.note(position, now)
    assert clock.behind(700, now=5.0) == 0.0  # caught up
    assert clock.behind(300, now=5.0) == 2.0  # lacks what was first seen at 3.0
    assert clock.behind(100, now=5.0) == 3.0
    assert clock.behind(50, now=5.0) == 5.0  # behind since before the first sample
    clock.forget_before(300)
    assert clock.samples == [(2.0, 300), (3.0, 700)]
    assert clock.behind(300, now=5.0) == 2.0


def test_a_long_stall_thins_the_wal_clock_but_keeps_its_oldest_sample():
    clock = pacing.WalClock()
    for step in range(3 * pacing.WalClock.KEEP):
        clock.note(step, float(step))
    assert len(clock.samples) <= pacing.WalClock.KEEP and clock.samples[0] == (0.0, 0)
    assert clock.behind(-1, now=5000.0) == 5000.0


@pytest.mark.parametrize(
    "value, expected",
    [
        (1_048_576, (1_048_576.0, "bytes")),
        ("16MB", (16 * 1024**2, "bytes")),
        ("512 kB", (512 * 1024.0, "bytes")),
        ("5s", (5.0, "seconds")),
        ("250ms", (0.25, "seconds")),
        ("1min", (60.0, "seconds")),
    ],
)
def test_the_replica_lag_limit_reads_bytes_or_a_duration(settings, value, expected):
    settings.COMPAT_VIEWS_BACKFILL_MAX_REPLICA_LAG = value
    assert conf.backfill_max_replica_lag() == expected


@pytest.mark.parametrize(
    "name, value",
    [
        ("COMPAT_VIEWS_BACKFILL_MAX_REPLICA_LAG", "16 MiB"),
        ("COMPAT_VIEWS_BACKFILL_MAX_REPLICA_LAG", 0),
        ("COMPAT_VIEWS_BACKFILL_MAX_REPLICA_LAG", "fast"),
        ("COMPAT_VIEWS_BACKFILL_MAX_WAL_RATE", "5s"),  # a rate is bytes (a second)
    ],
)
def test_a_limit_that_is_not_an_amount_is_refused(settings, name, value):
    setattr(settings, name, value)
    with pytest.raises(ConfigurationError, match=rf"{name} is .*: set it to a positive number"):
        conf.backfill_max_replica_lag() if "LAG" in name else conf.backfill_max_wal_rate()


def test_a_fixed_batch_size_is_a_setting_and_adaptive_the_default(settings):
    assert conf.backfill_batch_size() is None
    settings.COMPAT_VIEWS_BACKFILL_BATCH_SIZE = 700
    assert conf.backfill_batch_size() == 700


def test_sizes_and_durations_read_as_people_write_them():
    assert [pacing.byte_text(n) for n in (12, 2048, 12.5 * 1024**2, 3 * 1024**3)] == [
        "12 B",
        "2 kB",
        "12.5 MB",
        "3 GB",
    ]
    assert [pacing.duration_text(s) for s in (4.4, 187, 3900)] == ["4s", "3m07s", "1h05m"]


def test_progress_shows_the_rate_the_eta_and_why_it_is_paused(monkeypatch):
    clock = iter([0.0, 10.0, 10.5, 20.0])  # created, first batch, paused, last batch
    monkeypatch.setattr(backfill.time, "monotonic", lambda: next(clock))
    stream = io.StringIO()
    progress = backfill.Progress(stream)
    progress("t.c", 1000, 4000, finished=False)
    progress("t.c", 1000, 4000, False, "paused: replica r1 is 12 MB behind (limit 1 MB)")
    progress("t.c", 4000, 4000, finished=True)
    assert stream.getvalue().splitlines() == [
        "  backfill t.c: 1000/4000 rows (25%, 100 rows/s, ETA 30s)",
        "  backfill t.c: 1000/4000 rows (25%, 95 rows/s, ETA 32s); "
        "paused: replica r1 is 12 MB behind (limit 1 MB)",  # at once, though 0.5 s later
        "  backfill t.c: 4000/4000 rows (100%, 200 rows/s)",
    ]


SEED = 30_000


def _reset_backfill() -> None:
    """Put the amount backfill back to its start, its rows unfilled and vacuumed, so that
    runs under different settings walk the same table."""
    rows("UPDATE shop_order SET amount = NULL")
    rows("VACUUM shop_order")
    rows(
        "UPDATE compat_views_appliedoperation SET backfill_status = 'pending', "
        "backfill_checkpoint = NULL, backfill_rows = 0 WHERE spec->>'column' = 'amount'"
    )


def _measured_backfill() -> tuple[float, float]:
    """(WAL bytes, seconds) of one ``compat backfill``, over the whole of it."""
    lsn = "SELECT pg_current_wal_insert_lsn()"
    ((before,),), started = rows(lsn), time.monotonic()
    call_command("compat", "backfill", verbosity=0)
    seconds = time.monotonic() - started
    ((written,),) = rows("SELECT pg_wal_lsn_diff(pg_current_wal_insert_lsn(), %s)", [before])
    assert rows("SELECT count(*) FROM shop_order WHERE amount IS NULL") == [(0,)]
    return float(written), seconds


LIMIT = 3 * 1024**2  # bytes/s, some 10 times below what this machine writes


def test_the_wal_rate_cap_holds_the_measured_rate_within_a_fifth_of_it(db, settings):
    """30 batches of 1,000 rows, the unthrottled run first: the throttled run's rate,
    over the whole backfill, is at most 1.2 × the limit; it is at least 0.8 × the limit
    only where the machine, unthrottled, wrote WAL well faster than the limit."""
    migrate("shop", "0001")
    rows(
        "INSERT INTO shop_order (customer, amount_cents) "
        "SELECT 'seed', g FROM generate_series(1, %s) g",
        [SEED],
    )
    settings.COMPAT_VIEWS_BACKFILL_BATCH_SIZE = 1000
    migrate("shop", "0002")
    _reset_backfill()
    free_bytes, free_seconds = _measured_backfill()
    _reset_backfill()
    settings.COMPAT_VIEWS_BACKFILL_MAX_WAL_RATE = LIMIT
    capped_bytes, capped_seconds = _measured_backfill()
    free, capped = free_bytes / free_seconds, capped_bytes / capped_seconds
    print(
        f"unthrottled {free / LIMIT:.2f}× the limit ({free_bytes:,.0f} B in {free_seconds:.2f} s), "
        f"capped {capped / LIMIT:.2f}× ({capped_bytes:,.0f} B in {capped_seconds:.2f} s)"
    )
    assert capped_bytes > 2 * LIMIT  # long enough for the control loop to matter
    assert capped <= 1.2 * LIMIT
    if free >= 2 * LIMIT:
        assert capped >= 0.8 * LIMIT


def test_adaptive_batches_grow_from_the_first_on_a_quick_table(db, capsys):
    """No batch size set: the first batch walks FIRST_BATCH keys, later ones more (these
    rows take far less than the target each), so the walk takes fewer batches."""
    migrate("shop", "0001")
    rows(
        "INSERT INTO shop_order (customer, amount_cents) "
        "SELECT 'seed', g FROM generate_series(1, %s) g",
        [SEED],
    )
    rows("CREATE TABLE walk (at timestamptz DEFAULT clock_timestamp(), checkpoint bigint)")
    rows(
        "CREATE FUNCTION note_walk() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        "INSERT INTO walk (checkpoint) VALUES ((NEW.backfill_checkpoint #>> '{}')::bigint); "
        "RETURN NEW; END $$"
    )
    rows(
        "CREATE TRIGGER note_walk AFTER UPDATE OF backfill_checkpoint "
        "ON compat_views_appliedoperation FOR EACH ROW EXECUTE FUNCTION note_walk()"
    )
    # Batches that skip triggers (session_replication_role) still fire this one.
    rows("ALTER TABLE compat_views_appliedoperation ENABLE ALWAYS TRIGGER note_walk")
    with override_settings(COMPAT_VIEWS_BACKFILL_BATCH_TARGET_MS=2000):
        migrate("shop", "0002")
    keys = [k for (k,) in rows("SELECT checkpoint FROM walk ORDER BY at")]
    sizes = [b - a for a, b in zip([0, *keys[:-1]], keys, strict=True)]
    assert sizes[0] == pacing.FIRST_BATCH, sizes
    assert max(sizes) > pacing.FIRST_BATCH and len(sizes) < SEED // pacing.FIRST_BATCH, sizes


ROLE = "compat_pacing_user"


@pytest.fixture
def unprivileged(db):
    """A role that owns nothing and may not read others' statistics; the test's
    connection runs as it (SET ROLE), then goes back to the superuser."""
    rows(f"DO $$ BEGIN CREATE ROLE {ROLE}; EXCEPTION WHEN duplicate_object THEN END $$")
    rows(f"SET ROLE {ROLE}")
    yield
    rows("RESET ROLE")


def test_a_replica_lag_limit_the_role_cannot_read_is_refused(unprivileged, settings):
    settings.COMPAT_VIEWS_BACKFILL_MAX_REPLICA_LAG = "16MB"
    message = (
        f"COMPAT_VIEWS_BACKFILL_MAX_REPLICA_LAG is set, but role {ROLE} cannot see how far "
        "replicas lag"
    )
    with pytest.raises(ConfigurationError, match=re.escape(message)) as raised:
        pacing.Pacer("default")
    assert f'GRANT pg_monitor TO "{ROLE}";' in str(raised.value)
    del settings.COMPAT_VIEWS_BACKFILL_MAX_REPLICA_LAG
    assert pacing.Pacer("default").lag_limit is None  # unset: nothing to read


def test_a_member_of_pg_monitor_may_set_a_replica_lag_limit(unprivileged, settings):
    settings.COMPAT_VIEWS_BACKFILL_MAX_REPLICA_LAG = "16MB"
    rows("RESET ROLE")
    rows(f"GRANT pg_monitor TO {ROLE}")
    rows(f"SET ROLE {ROLE}")
    assert pacing.Pacer("default").lag_limit == (16 * 1024**2, "bytes")


def test_status_shows_rows_done_left_and_the_eta_at_the_last_runs_pace(db, monkeypatch, capsys):
    interrupted_after_one_batch(monkeypatch)
    ((started, saved),) = rows(
        "SELECT backfill_started_at, backfill_saved_at FROM compat_views_appliedoperation "
        "WHERE spec->>'column' = 'amount'"
    )
    pace = 1000 / (saved - started).total_seconds()  # one batch of 1,000 keys
    capsys.readouterr()
    call_command("compat", "status", "--json")
    (item,) = json.loads(capsys.readouterr().out)["rollout"]["backfills"]
    assert {k: item[k] for k in ("table", "column", "rows_done", "rows_left", "rows_filled")} == {
        "table": "shop_order",
        "column": "amount",
        "rows_done": 1000,
        "rows_left": ROWS - 1000,
        "rows_filled": 1000,
    }
    assert item["rows_per_second"] == pytest.approx(pace)
    assert item["eta_seconds"] == pytest.approx((ROWS - 1000) / pace)
    call_command("compat", "status")
    eta = pacing.duration_text((ROWS - 1000) / pace)
    assert (
        f"  backfill of shop_order.amount: 1000 of {ROWS} rows walked, {ROWS - 1000} left; "
        f"1000 rows filled so far; ETA {eta} at {pace:,.0f} rows/s (last batch "
    ) in capsys.readouterr().out


def _backfill_in_a_thread(stream) -> tuple[threading.Thread, list[BaseException]]:
    """``compat backfill`` in a thread of its own (its own connections), writing to
    ``stream``; what it raised lands in the list."""
    raised: list[BaseException] = []

    def work() -> None:
        try:
            call_command("compat", "backfill", stdout=stream)
        except BaseException as exc:  # reported by the test's thread
            raised.append(exc)
        finally:
            connections.close_all()

    thread = threading.Thread(target=work)
    thread.start()
    return thread, raised


def _wait_for(condition, what: str, stream, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"gave up waiting for {what}:\n{stream.getvalue()}"
        time.sleep(0.05)


FILLED = "SELECT backfill_rows FROM compat_views_appliedoperation WHERE spec->>'column' = 'amount'"


@pytest.mark.parametrize("limit, shown", [("256kB", "256 kB"), ("500ms", "0.5 s")])
def test_the_backfill_pauses_while_the_standby_replay_is_held_and_resumes_after(
    db, pg_standby, settings, limit, shown
):
    """Each batch writes more WAL than 256 kB, so the first one already puts the held
    standby over that limit; for the 500 ms limit, 50 ms between batches make 30
    batches outlast it however quick the machine is."""
    migrate("shop", "0001")
    rows(
        "INSERT INTO shop_order (customer, amount_cents) "
        "SELECT 'seed', g FROM generate_series(1, %s) g",
        [SEED],
    )
    settings.COMPAT_VIEWS_BACKFILL_BATCH_SIZE = 1000  # some 290 kB of WAL a batch
    migrate("shop", "0002")
    _reset_backfill()
    settings.COMPAT_VIEWS_BACKFILL_MAX_REPLICA_LAG = limit
    settings.COMPAT_VIEWS_BACKFILL_PAUSE = 0.05
    pg_standby.wait_replayed()
    pg_standby.pause_replay()
    stream = io.StringIO()
    try:
        thread, raised = _backfill_in_a_thread(stream)
        paused = "paused: replica compat_views_standby is "
        _wait_for(lambda: paused in stream.getvalue() or raised, "the backfill to pause", stream)
        assert not raised, raised
        # Paused, it runs no batch: what it filled stays put while replay is held.
        ((filled,),) = rows(FILLED)
        time.sleep(3 * pacing.POLL)
        assert rows(FILLED) == [(filled,)] and 0 < filled < SEED
    finally:
        pg_standby.resume_replay()
    thread.join(timeout=120)
    assert not thread.is_alive() and not raised, raised
    said = stream.getvalue()
    print(said)
    assert re.search(rf"{paused}[\d.]+ \w+ behind \(limit {shown}\)", said), said
    assert said.index(paused) < said.index("resumed after ") < said.index(f"{SEED}/{SEED} rows")
    assert rows("SELECT count(*) FROM shop_order WHERE amount IS NULL") == [(0,)]
    assert rows(FILLED) == [(SEED,)]
