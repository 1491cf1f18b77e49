"""How big the next backfill batch is, and when it may start.

A backfill writes as fast as the server lets it unless told otherwise, and on a primary
with streaming replicas that floods WAL: the replicas fall behind and the reads they
serve go stale. Three brakes, between batches only (a batch is one short transaction
and is never held open while waiting):

* adaptive size (the default, unless ``COMPAT_VIEWS_BACKFILL_BATCH_SIZE`` fixes it):
  each batch is sized to take ``COMPAT_VIEWS_BACKFILL_BATCH_TARGET_MS``, so a batch's
  locks and its burst of WAL stay short whatever the rows cost;
* ``COMPAT_VIEWS_BACKFILL_MAX_REPLICA_LAG``: while any replica in
  ``pg_stat_replication`` lags more, the next batch waits;
* ``COMPAT_VIEWS_BACKFILL_MAX_WAL_RATE``: the batches' WAL (``pg_current_wal_insert_lsn``
  before and after each) is paid for by sleeping, so it averages at most that rate.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from django.db import connections

from . import conf
from .errors import ConfigurationError
from .sql import ident

FIRST_BATCH, MIN_BATCH, MAX_BATCH = 1_000, 100, 100_000
POLL = 0.5  # seconds between two looks at pg_stat_replication while paused
BURST = 1.0  # seconds of WAL budget a slow stretch may save up for later batches


def next_batch_size(
    size: int, elapsed: float, target: float, low: int = MIN_BATCH, high: int = MAX_BATCH
) -> int:
    """The size that would have taken ``target`` seconds at the pace of the batch that
    took ``elapsed`` with ``size`` keys: larger while batches stay under the target,
    smaller when one runs over.

    Each step at most doubles or halves the size, so one odd batch (a cold cache, a wait
    on a row lock) does not swing it far, and proportional steps settle on the target
    instead of oscillating around it.
    """
    factor = target / elapsed if elapsed > 0 else 2.0
    return max(low, min(high, round(size * min(2.0, max(0.5, factor)))))


class WalBudget:
    """A token bucket of WAL bytes, refilled at ``rate`` bytes a second.

    It starts empty, so even the first batch's WAL is paid for (by a sleep after it),
    and a slow stretch saves up at most ``BURST`` seconds of budget: over any run the
    batches' WAL averages at most ``rate``, give or take the last batch.
    """

    def __init__(self, rate: float, now: float) -> None:
        self.rate, self.free_at = rate, now

    def spend(self, written: int, now: float) -> float:
        """Charge ``written`` bytes; return how long to wait before the next batch."""
        self.free_at = max(self.free_at, now - BURST) + written / self.rate
        return max(0.0, self.free_at - now)


def byte_text(amount: float) -> str:
    """Bytes as Postgres spells sizes (1024-based, as the settings read them)."""
    for unit in ("TB", "GB", "MB", "kB"):
        scale = conf.BYTE_UNITS[unit]
        if amount >= scale:
            return f"{amount / scale:.3g} {unit}"
    return f"{amount:.0f} B"


def duration_text(seconds: float) -> str:
    """A duration for a person: ``1h05m``, ``3m07s``, ``12s``."""
    whole = max(0, round(seconds))
    hours, minutes, secs = whole // 3600, whole // 60 % 60, whole % 60
    if hours:
        return f"{hours}h{minutes:02d}m"
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


class WalClock:
    """When the primary's WAL passed each position, as sampled between batches: how long
    ago a replica's replay position was the primary's newest WAL.

    ``replay_lag`` in ``pg_stat_replication`` cannot say that while a replica's replay
    is stuck (a long query holding it, ``pg_wal_replay_pause()``): Postgres measures it
    only when replay reaches newer WAL, so it keeps showing the last, small value.
    ``behind`` is a lower bound (the WAL a replica lacks was written before the sample
    that first showed it); samples a replica has caught up with are dropped, and a
    long stall keeps the oldest ones while thinning the rest.
    """

    KEEP = 1000

    def __init__(self) -> None:
        self.samples: list[tuple[float, int]] = []  # (monotonic time, WAL position)

    def note(self, position: int, now: float) -> None:
        self.samples.append((now, position))
        if len(self.samples) > self.KEEP:
            self.samples = self.samples[:1] + self.samples[2::2]

    def forget_before(self, position: int) -> None:
        """Drop samples every replica has replayed past, keeping the newest of them."""
        passed = [i for i, (_, at) in enumerate(self.samples) if at <= position]
        del self.samples[: passed[-1] if passed else 0]

    def behind(self, replayed: int, now: float) -> float:
        """Seconds since the primary first was seen past ``replayed`` (0: never)."""
        later = [at for at, position in self.samples if position > replayed]
        return now - later[0] if later else 0.0


def replica_positions(cursor) -> tuple[int, list[tuple[str, int, float]]]:
    """The primary's WAL position, and (name, replay position, ``replay_lag`` in
    seconds or 0) of each replica whose replay position the role can see. A sender that
    has no replay position yet (a base backup, a replica still starting) is left out."""
    cursor.execute(
        "SELECT pg_catalog.pg_wal_lsn_diff(pg_catalog.pg_current_wal_lsn(), '0/0')::bigint, "
        "COALESCE(NULLIF(application_name, ''), 'pid ' || pid), "
        "pg_catalog.pg_wal_lsn_diff(replay_lsn, '0/0')::bigint, "
        "COALESCE(pg_catalog.date_part('epoch', replay_lag), 0) "
        "FROM (SELECT 1) AS _compat_now LEFT JOIN pg_catalog.pg_stat_replication "
        "ON replay_lsn IS NOT NULL"
    )
    found = cursor.fetchall()
    return found[0][0], [(name, at, float(lag)) for _, name, at, lag in found if name]


def amount_text(amount: float, unit: str) -> str:
    return byte_text(amount) if unit == "bytes" else f"{amount:.3g} s"


def require_lag_visible(cursor) -> None:
    """Refuse a replica-lag limit the role cannot read.

    Without pg_read_all_stats (which pg_monitor holds) a role sees a row of
    ``pg_stat_replication`` per replica but NULL in every position column: the limit
    would silently never apply, on exactly the deploys that set it.
    """
    cursor.execute(
        "SELECT current_user, pg_catalog.pg_has_role(current_user, 'pg_read_all_stats', 'USAGE')"
    )
    role, allowed = cursor.fetchone()
    if not allowed:
        raise ConfigurationError(
            f"COMPAT_VIEWS_BACKFILL_MAX_REPLICA_LAG is set, but role {role} cannot see how far "
            "replicas lag (pg_stat_replication shows it only to members of pg_monitor or "
            f"pg_read_all_stats). As a superuser run GRANT pg_monitor TO {ident(role)}; then "
            "`manage.py compat backfill` (or unset the setting)."
        )


_WAL_NOW = "SELECT pg_catalog.pg_current_wal_insert_lsn()"


class Pacer:
    """The brakes of one backfill run, read from the settings when it starts."""

    def __init__(self, alias: str) -> None:
        self.connection = connections[alias]
        self.fixed = conf.backfill_batch_size()
        self.size = self.fixed or FIRST_BATCH
        self.target = conf.backfill_batch_target_ms() / 1000
        self.lag_limit = conf.backfill_max_replica_lag()
        self.clock = WalClock()
        rate = conf.backfill_max_wal_rate()
        if self.lag_limit:
            with self.connection.cursor() as cursor:
                require_lag_visible(cursor)
        self.next_at = time.monotonic()
        self.budget = WalBudget(rate, self.next_at) if rate else None

    def _query(self, sql: str, params=()):
        with self.connection.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchone()[0]

    def _lagging(self) -> str:
        """Why the next batch must wait for a replica, or "" if none lags too much."""
        if not self.lag_limit:
            return ""
        limit, unit = self.lag_limit
        with self.connection.cursor() as cursor:
            position, replicas = replica_positions(cursor)
        now = time.monotonic()
        self.clock.note(position, now)
        if not replicas:
            return ""
        self.clock.forget_before(min(at for _, at, _ in replicas))
        lag, name = max(
            (position - at, name)
            if unit == "bytes"
            else (max(replay_lag, self.clock.behind(at, now)), name)
            for name, at, replay_lag in replicas
        )
        if lag <= limit:
            return ""
        behind = f"{amount_text(lag, unit)} behind (limit {amount_text(limit, unit)})"
        return f"paused: replica {name} is {behind}"

    def wait(self, report: Callable[[str], None]) -> None:
        """Return when the next batch may start: once the WAL budget allows it and no
        replica lags more than the limit; ``report`` hears why while it waits."""
        delay = self.next_at - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        reason = self._lagging()
        if not reason:
            return
        paused_at = time.monotonic()
        while reason:
            report(reason)
            time.sleep(POLL)
            reason = self._lagging()
        report(f"resumed after {duration_text(time.monotonic() - paused_at)} paused")

    @contextmanager
    def batch(self) -> Iterator[None]:
        """Measure the batch run inside: its time sizes the next one, its WAL is charged
        to the budget."""
        before = self._query(_WAL_NOW) if self.budget else None
        started = time.monotonic()
        yield
        now = time.monotonic()
        if not self.fixed:
            self.size = next_batch_size(self.size, now - started, self.target)
        if self.budget:
            written = self._query(
                "SELECT pg_catalog.pg_wal_lsn_diff(pg_catalog.pg_current_wal_insert_lsn(), %s)",
                [before],
            )
            self.next_at = now + self.budget.spend(int(written), now)
