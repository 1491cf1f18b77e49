"""Who holds and who waits for which lock, sampled from ``pg_locks`` while the demo runs.

A latency spike is only explained when the report can say what the requests were waiting
for: the ACCESS EXCLUSIVE lock of ``migrate``'s DDL transaction, a backfill batch, the
DROP of ``compat complete``. The watcher polls from a session of its own (no colour) every
``PERIOD_S`` and keeps each lock it saw as one interval from its first to its last sample:
a lock held for less than one period may be missed, so the report states the period.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import psycopg
from psycopg.rows import dict_row

PERIOD_S = 0.05
MAX_INTERVALS = 400  # a bound on the result's size; further locks are only counted
MAX_QUERIES = 4  # distinct statements kept per interval: what its session ran meanwhile

# Every lock a rollout command (application_name "…manage.py …") takes on the demo's
# table, its view, indexes or sequence; every ACCESS EXCLUSIVE; and every lock someone
# waits for, with who blocks it. Relations a transaction is still creating are invisible
# to the watcher and to everyone else, so no one can wait for them: they are left out.
_LOCKS = """
SELECT l.pid, a.application_name AS app, l.mode, l.granted,
       n.nspname || '.' || c.relname AS relation,
       pg_catalog.left(pg_catalog.regexp_replace(a.query, '\\s+', ' ', 'g'), 160) AS query,
       CASE WHEN l.granted THEN '' ELSE (
         SELECT pg_catalog.string_agg(b.application_name || ' running: '
                  || pg_catalog.left(pg_catalog.regexp_replace(b.query, '\\s+', ' ', 'g'), 100),
                  '; ')
         FROM pg_catalog.pg_stat_activity b
         WHERE b.pid = ANY (pg_catalog.pg_blocking_pids(l.pid))) END AS blocked_by
FROM pg_catalog.pg_locks l
JOIN pg_catalog.pg_stat_activity a ON a.pid = l.pid
JOIN pg_catalog.pg_class c ON c.oid = l.relation
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE l.locktype = 'relation' AND a.datname = pg_catalog.current_database()
  AND l.pid <> pg_catalog.pg_backend_pid()
  AND (NOT l.granted OR l.mode = 'AccessExclusiveLock'
       OR (a.application_name LIKE %(command)s AND l.mode <> 'AccessShareLock'
           AND c.relname LIKE %(table)s))
"""


class LockWatch:
    """A daemon thread sampling locks until ``stop``; ``intervals`` is the result."""

    def __init__(self, conninfo: str, table: str, t0: float) -> None:
        """``t0``: the ``time.monotonic()`` the demo counts its seconds from."""
        self._connection = psycopg.connect(
            conninfo, autocommit=True, row_factory=dict_row, application_name="compat_demo_watch"
        )
        self._params = {"command": "%manage.py %", "table": table.replace("_", r"\_") + "%"}
        self._t0 = t0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._open: dict[tuple[Any, ...], dict[str, Any]] = {}
        self.intervals: list[dict[str, Any]] = []
        self.samples = 0
        self.dropped = 0

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Stop sampling and close the session; idempotent, also before ``start``."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
        self._connection.close()

    def summary(self) -> dict[str, Any]:
        return {
            "period_s": PERIOD_S,
            "samples": self.samples,
            "intervals": sorted(self.intervals, key=lambda i: i["from_s"]),
            "dropped": self.dropped,
        }

    def _run(self) -> None:
        while not self._stop.wait(PERIOD_S):
            now = round(time.monotonic() - self._t0, 3)
            try:
                rows = self._connection.execute(_LOCKS, self._params).fetchall()
            except psycopg.Error:
                return  # the database is going away: what was seen so far stands
            self.samples += 1
            self._record(now, rows)

    def _record(self, now: float, rows: list[dict[str, Any]]) -> None:
        """Extend the intervals seen in the previous sample too; open one for a new lock."""
        seen = {}
        for row in rows:
            key = (row["pid"], row["mode"], row["relation"], row["granted"])
            interval = self._open.get(key)
            if interval is None:
                interval = {
                    "from_s": now,
                    "app": row["app"],
                    "mode": row["mode"],
                    "relation": row["relation"],
                    "granted": row["granted"],
                    "queries": [],
                    "blocked_by": row["blocked_by"] or "",
                }
                if len(self.intervals) < MAX_INTERVALS:
                    self.intervals.append(interval)
                else:
                    self.dropped += 1
            interval["to_s"] = now
            query = row["query"].strip()
            if query not in interval["queries"] and len(interval["queries"]) < MAX_QUERIES:
                interval["queries"].append(query)
            seen[key] = interval
        self._open = seen
