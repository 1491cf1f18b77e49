"""Run a real streaming hot standby of a throwaway local cluster, for replica tests.

The standby is cloned with ``pg_basebackup -R -X stream`` from the primary's own
binaries (a standby must run the primary's major version), on a free port of its own,
and started with ``pg_ctl`` like the primary (as the ``postgres`` user under root).
The primary's initdb already trusts replication connections from 127.0.0.1 and keeps
``wal_level=replica`` and ``max_wal_senders`` at their defaults, so nothing on the
primary changes. No replication slot is made: the walreceiver keeps receiving while
replay is paused, so the primary never needs WAL the standby has not fetched, and no
slot can outlive a test session and pin the primary's WAL.
"""

from __future__ import annotations

import atexit
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import psycopg

from .postgres import PostgresUnavailable, Server, _LocalCluster

_POLL_S = 0.01


def standby_problem(primary: Server) -> str | None:
    """Why no standby of ``primary`` can be started here, or None; a reason to skip with."""
    if primary.bindir is None:
        return (
            f"a standby needs a local cluster's binaries; the server comes from "
            f"{primary.source!r} (unset COMPAT_VIEWS_TEST_DSN, or set COMPAT_VIEWS_PG_BINDIR)"
        )
    if not (primary.bindir / "pg_basebackup").is_file():
        return f"pg_basebackup is not in {primary.bindir} (Debian: apt-get install postgresql)"
    return None


class _StandbyCluster(_LocalCluster):
    """A data directory cloned from the primary instead of initdb'd, started as a standby."""

    def __init__(self, bindir: Path, primary: Server, settings: dict[str, str]) -> None:
        super().__init__(bindir)
        self._primary = primary
        self._extra = settings

    def _create_datadir(self) -> None:
        copied = self._run(
            "pg_basebackup",
            *("-D", str(self.datadir), "-R", "-X", "stream", "-c", "fast", "--no-sync"),
            *("-h", self._primary.host, "-p", str(self._primary.port), "-U", self._primary.user),
        )
        if copied.returncode != 0:
            raise PostgresUnavailable(
                f"{self._bindir / 'pg_basebackup'} failed (exit {copied.returncode}):\n"
                f"{copied.stderr}"
            )

    def _settings(self) -> str:
        # cluster_name is the walreceiver's application_name in pg_stat_replication.
        settings = {"hot_standby": "on", "cluster_name": "compat_views_standby", **self._extra}
        return "".join(f" -c {name}={value}" for name, value in settings.items())


@dataclass(frozen=True)
class Standby:
    """A running hot standby of ``primary``: where to connect, and how to wait for replay."""

    primary: Server
    server: Server  # the standby itself, as a Server (read-only; never restart it)

    def conninfo(self, dbname: str | None = None) -> str:
        """libpq string of a database on the standby (the primary's name for it)."""
        return self.server.conninfo(dbname)

    def django_settings(self, dbname: str) -> dict[str, Any]:
        """A ``DATABASES`` entry reading from the standby, e.g. a replica alias."""
        return self.server.django_settings(dbname)

    def _query(self, sql: str, params: list[Any] | None = None) -> Any:
        with psycopg.connect(self.conninfo(), autocommit=True) as conn:
            return conn.execute(sql, params).fetchone()[0]

    def replay_lsn(self) -> str:
        """``pg_last_wal_replay_lsn()``: how far the standby has applied the primary's WAL."""
        return str(self._query("SELECT pg_last_wal_replay_lsn()"))

    def wait_replayed(
        self, primary: psycopg.Connection | str | None = None, timeout: float = 30
    ) -> None:
        """Wait until the standby has replayed the primary's WAL up to now (or to an LSN).

        ``primary`` is an open connection to the primary, an LSN, or None for a fresh
        connection. The target is ``pg_current_wal_insert_lsn()``, not
        ``pg_current_wal_lsn()``: the primary runs ``synchronous_commit=off``, so a commit
        that just returned may lie past the write position, and waiting for that alone
        would return before the commit replayed.
        """
        if isinstance(primary, str):
            target = primary
        elif primary is None:
            with psycopg.connect(self.primary.conninfo(), autocommit=True) as conn:
                target = _insert_lsn(conn)
        else:
            target = _insert_lsn(primary)
        deadline = time.monotonic() + timeout
        with psycopg.connect(self.conninfo(), autocommit=True) as conn:
            while not conn.execute(
                "SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", [target]
            ).fetchone()[0]:
                if time.monotonic() > deadline:
                    replayed = conn.execute("SELECT pg_last_wal_replay_lsn()").fetchone()[0]
                    raise TimeoutError(
                        f"the standby replayed up to {replayed}, not {target}, in {timeout}s"
                        " (is replay paused?)"
                    )
                time.sleep(_POLL_S)

    def pause_replay(self) -> None:
        """Stop applying WAL (it is still received), and return once replay has stopped."""
        with psycopg.connect(self.conninfo(), autocommit=True) as conn:
            conn.execute("SELECT pg_wal_replay_pause()")
            while conn.execute("SELECT pg_get_wal_replay_pause_state()").fetchone()[0] != "paused":
                time.sleep(_POLL_S)

    def resume_replay(self) -> None:
        """Apply WAL again, from where the pause left it."""
        self._query("SELECT pg_wal_replay_resume()")

    def is_paused(self) -> bool:
        """Whether replay is paused (asked for or in effect)."""
        return self._query("SELECT pg_get_wal_replay_pause_state()") != "not paused"


def _insert_lsn(conn: psycopg.Connection) -> str:
    return str(conn.execute("SELECT pg_current_wal_insert_lsn()").fetchone()[0])


@contextmanager
def streaming_standby(primary: Server, **settings: str) -> Iterator[Standby]:
    """Yield a hot standby of ``primary`` that exists only for the ``with`` block.

    ``settings`` are extra standby ``-c`` settings, e.g. ``hot_standby_feedback="on"``
    or ``max_standby_streaming_delay="-1"``. Raises ``PostgresUnavailable`` with the
    reason when it cannot start; ``standby_problem`` says beforehand whether it can.
    """
    problem = standby_problem(primary)
    if problem is not None:
        raise PostgresUnavailable(problem)
    assert primary.bindir is not None  # for the type checker: standby_problem checked it
    cluster = _StandbyCluster(primary.bindir, primary, settings)
    atexit.register(cluster.stop)
    try:
        cluster.start()
        yield Standby(
            primary=primary,
            server=replace(primary, port=cluster.port, restarter=None, bindir=None),
        )
    finally:
        cluster.stop()
        atexit.unregister(cluster.stop)
