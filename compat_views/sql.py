"""Quoting and the one DDL executor: steps under a short lock_timeout, retried whole.

Identifiers go through psycopg's ``sql.Identifier`` (it escapes embedded quotes,
which Django's ``quote_name`` does not). Every statement is handed to
``schema_editor.execute`` with ``params=None`` so ``sqlmigrate`` and SQL logging
show it verbatim and a ``%`` in a user expression is never read as a placeholder.
"""

from __future__ import annotations

import itertools
import logging
import random
import time
from collections.abc import Callable, Iterable
from contextvars import ContextVar
from typing import TypeVar

from django.db import OperationalError, transaction
from psycopg import errors as pg_errors
from psycopg import sql

from . import conf
from .errors import LocksHeld, LockTimeoutExhausted

logger = logging.getLogger("compat_views")
T = TypeVar("T")
# Aliases whose connection is inside a step in this thread: their statements are part of it.
_in_step: ContextVar[frozenset[str]] = ContextVar("compat_views_in_step", default=frozenset())


def ident(*parts: str) -> str:
    """A quoted, dot-joined identifier such as ``"public"."Book"``."""
    return ".".join(sql.Identifier(part).as_string(None) for part in parts)


def literal(value: object) -> str:
    """A SQL literal for text, numbers and booleans (no connection needed)."""
    return sql.Literal(value).as_string(None)


def _is_busy(exc: BaseException) -> bool:
    """A lock timeout, or Postgres's deadlock check failing the step (it runs after
    ``deadlock_timeout``, which may be set below our lock_timeout): either way the
    step's transaction or savepoint is rolled back, releasing all it took."""
    busy = (pg_errors.LockNotAvailable, pg_errors.DeadlockDetected)
    return isinstance(exc.__cause__ or exc, busy)


# Modes that block an application's writes (INSERT, UPDATE and DELETE take ROW EXCLUSIVE).
_BLOCKING_WRITERS = ["ShareLock", "ShareRowExclusiveLock", "ExclusiveLock", "AccessExclusiveLock"]


def _holds_blocking_locks(connection) -> bool:
    """Whether this transaction already holds a lock that blocks writers, besides on
    compat_views' own state tables (rows locked FOR UPDATE, written; never blocking)."""
    from django.apps import apps

    state_tables = [
        model._meta.db_table for model in apps.get_app_config("compat_views").get_models()
    ]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT EXISTS (SELECT FROM pg_catalog.pg_locks l "
            "JOIN pg_catalog.pg_class c ON c.oid = l.relation "
            "WHERE l.pid = pg_catalog.pg_backend_pid() AND l.locktype = 'relation' "
            "AND l.granted AND l.mode = ANY(%s) AND c.relname <> ALL(%s))",
            [_BLOCKING_WRITERS, state_tables],
        )
        return cursor.fetchone()[0]


def _back_off(attempt: int, attempts: int) -> None:
    """Exponential, capped and jittered, so retrying sessions do not move in lockstep."""
    pause = min(conf.ddl_max_backoff(), 0.05 * 2**attempt) * random.uniform(0.5, 1.0)
    logger.info("lock busy, retrying in %.2fs (try %d/%d)", pause, attempt, attempts)
    time.sleep(pause)


# Other sessions holding locks on this database's own relations, oldest transaction
# first: the one a step kept waiting for is almost always the oldest; and how many there
# are. A role that is no superuser (nor in pg_read_all_stats) sees another role's
# sessions with their type, state, start and query hidden, but their user and
# application; a hidden row of no user is an autovacuum worker (see _AUTOVACUUMS).
_HOLDERS = """
SELECT a.pid,
       COALESCE(a.backend_type, CASE WHEN a.usesysid IS NULL THEN 'autovacuum worker'
                                     ELSE 'role ' || a.usename END),
       a.application_name, a.state,
       pg_catalog.round(extract(epoch FROM pg_catalog.now() - a.xact_start)::numeric, 1),
       pg_catalog.left(pg_catalog.regexp_replace(a.query, '\\s+', ' ', 'g'), 80),
       pg_catalog.string_agg(DISTINCT l.relation::pg_catalog.regclass::text, ', '),
       pg_catalog.count(*) OVER ()
FROM pg_catalog.pg_locks l
JOIN pg_catalog.pg_stat_activity a ON a.pid = l.pid
WHERE l.locktype = 'relation' AND l.granted AND l.pid <> pg_catalog.pg_backend_pid()
  AND l.relation >= 16384
  AND l.database = (SELECT oid FROM pg_catalog.pg_database
                    WHERE datname = pg_catalog.current_database())
GROUP BY 1, 2, 3, 4, 5, 6, a.xact_start, pg_catalog.age(a.backend_xid)
ORDER BY a.xact_start NULLS LAST, pg_catalog.age(a.backend_xid) DESC NULLS LAST, a.pid
LIMIT 5
"""


def lock_holders(connection) -> list[str]:
    """One line per session that holds locks here now (the oldest five, then how many
    more), to name in an error."""
    with connection.cursor() as cursor:
        cursor.execute(_HOLDERS)
        found = cursor.fetchall()
    lines = [
        f"pid {pid} ({kind}{f', {app}' if app else ''}){f', {state}' if state else ''}"
        f"{f' for {age} s' if age is not None else ''}, locks {relations}: {query}"
        for pid, kind, app, state, age, query, relations, _ in found
    ]
    if found and found[0][-1] > len(found):
        lines.append(f"and {found[0][-1] - len(found)} more")
    return lines


def _exhausted(connection, attempts: int, what: str) -> LockTimeoutExhausted:
    holders = lock_holders(connection)
    listed = "".join(f"\n    {line}" for line in holders) or " none now"
    return LockTimeoutExhausted(
        f"Gave up after {attempts} tries: another transaction kept a lock that this "
        f"needs:\n  {what.strip()[:300]}\nSessions holding locks here, oldest first:{listed}\n"
        "Let the one keeping the lock finish (or end it), then run the command again."
    )


# Autovacuum workers holding a lock on one of the given relations (quoted names) or on
# a partition of one (autovacuum vacuums leaves, and LOCK on a parent locks them all), in
# this database. One that prevents wraparound is never cancelled by PostgreSQL; waiting
# it out is no use. A role that is no superuser and not in pg_read_all_stats sees a
# worker's row with backend_type and query hidden: a row of no user (usesysid is shown
# to all) holding a table is a worker, one that prevents wraparound when the table is
# past its freeze age (as the autovacuum launcher decides).
_AUTOVACUUMS = """
WITH listed AS (
    SELECT pg_catalog.to_regclass(name) AS oid FROM pg_catalog.unnest(%s::text[]) name
)
SELECT DISTINCT a.pid, l.relation::pg_catalog.regclass::text
FROM pg_catalog.pg_locks l
JOIN pg_catalog.pg_stat_activity a ON a.pid = l.pid
JOIN pg_catalog.pg_class c ON c.oid = l.relation
WHERE l.locktype = 'relation' AND l.granted
  AND l.database = (SELECT oid FROM pg_catalog.pg_database
                    WHERE datname = pg_catalog.current_database())
  AND l.relation IN (SELECT oid FROM listed UNION ALL
                     SELECT t.relid FROM listed, pg_catalog.pg_partition_tree(listed.oid) t)
  AND CASE WHEN a.backend_type IS NOT NULL
      THEN a.backend_type = 'autovacuum worker'
           AND a.query NOT LIKE '%%to prevent wraparound%%'
      ELSE a.usesysid IS NULL
           AND pg_catalog.age(c.relfrozenxid) <= LEAST(
               pg_catalog.current_setting('autovacuum_freeze_max_age')::int,
               (SELECT o.option_value::int FROM pg_catalog.pg_options_to_table(c.reloptions) o
                WHERE o.option_name = 'autovacuum_freeze_max_age'))
           AND pg_catalog.mxid_age(c.relminmxid) <= LEAST(
               pg_catalog.current_setting('autovacuum_multixact_freeze_max_age')::int,
               (SELECT o.option_value::int FROM pg_catalog.pg_options_to_table(c.reloptions) o
                WHERE o.option_name = 'autovacuum_multixact_freeze_max_age'))
      END
"""


def _outwait_autovacuum(connection, relations: list[str]) -> None:
    """Have PostgreSQL cancel an autovacuum that holds one of ``relations`` (or a
    partition of one).

    PostgreSQL cancels an autovacuum that blocks a lock request once the request has
    waited ``deadlock_timeout`` (1 s by default): our lock_timeout is shorter, so an
    autovacuum of a big table, which can run for hours, would make every try give up.
    Measured on PostgreSQL 15: ``LOCK`` under a 200 ms lock_timeout failed behind a
    slow autovacuum every time, and under 1.5 s was granted after 1.0 s, the worker
    cancelled. Waiting for SHARE UPDATE EXCLUSIVE, the weakest mode that conflicts with
    vacuum, blocks no application statement meanwhile; inside a step it is then held,
    so the worker cannot come back before the step's own locks. A transaction that
    already holds locks blocking writers (a migration's plain operation before the step)
    must not wait that long: its step fails on the busy lock at once (``step``).
    """
    if not relations:
        return
    with connection.cursor() as cursor:
        cursor.execute(_AUTOVACUUMS, [relations])
        found = cursor.fetchall()
        if not found or _holds_blocking_locks(connection):
            return
        logger.info(
            "waiting out autovacuum: %s",
            ", ".join(f"pid {pid} on {relation}" for pid, relation in found),
        )
        cursor.execute(
            "SELECT setting::int FROM pg_catalog.pg_settings WHERE name = 'deadlock_timeout'"
        )
        wait = cursor.fetchone()[0] + conf.lock_timeout_ms()
        previous = _set_lock_timeout(connection, f"{wait}ms")
        cursor.execute(f"LOCK TABLE {', '.join(relations)} IN SHARE UPDATE EXCLUSIVE MODE")
        _set_lock_timeout(connection, previous)


def _set_lock_timeout(connection, value: str) -> str:
    """Set lock_timeout for the current transaction; return what it was."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_catalog.current_setting('lock_timeout'), "
            "pg_catalog.set_config('lock_timeout', %s, true)",
            [value],
        )
        return cursor.fetchone()[0]


def step(schema_editor, body: Callable[[], T], what: str) -> T:
    """Run ``body`` all or nothing under ``lock_timeout``; while a lock is busy, undo all
    of it and run it again after a backoff.

    A statement that queues for a lock makes every later query on the table queue
    behind it, so a long transaction elsewhere would stall the application; with a
    short lock_timeout the statement gives up instead. Retrying only that statement
    would keep every lock the step took before it, and their writers would wait for
    the whole retry; so the whole step rolls back (its transaction, or its savepoint
    inside the caller's: a rolled-back subtransaction releases its locks) before it
    waits. A step run inside a step is part of it, with no retry of its own.

    A step that could not release everything must not wait: when the caller's
    transaction (a migration's) still holds locks that block writers once the step is
    undone, from its plain operations or an earlier step, a busy lock fails it at once
    (``LocksHeld``), and Django rolls the whole migration back. That is asked only
    then: a rolled-back savepoint leaves the locks the transaction held before it, so
    the answer is the same, and no step pays a round trip for it while it holds the
    tables it locked. The lock_timeout stays set for the rest of that transaction, so
    a plain operation after the step gives up on a busy lock instead of queueing,
    holding the step's locks, for as long as that lock is held.
    """
    connection = schema_editor.connection
    alias = connection.alias
    if schema_editor.collect_sql or alias in _in_step.get():
        return body()
    attempts = conf.ddl_attempts()
    for attempt in itertools.count(1):
        token = _in_step.set(_in_step.get() | {alias})
        try:
            with transaction.atomic(using=alias):
                _set_lock_timeout(connection, f"{conf.lock_timeout_ms()}ms")
                return body()
        except OperationalError as exc:
            if not _is_busy(exc):
                raise
            if connection.in_atomic_block and _holds_blocking_locks(connection):
                raise LocksHeld(
                    "A lock this needs is busy, and the migration's transaction already "
                    "holds locks that block writers (taken by its earlier operations), so "
                    f"waiting or retrying would keep them blocked:\n  {what.strip()[:300]}\n"
                    "The migration was rolled back. Run migrate again; to let compat_views "
                    "wait and retry by itself, put plain and compat operations in separate "
                    "migrations."
                ) from exc
            if attempt == attempts:
                raise _exhausted(connection, attempts, what) from exc
        finally:
            _in_step.reset(token)
        _back_off(attempt, attempts)


def execute(schema_editor, statement: str, on: list[str] = ()) -> None:
    """Run one DDL statement, as a step of its own unless it is part of one; ``on`` are
    the relations (quoted) it locks, for an autovacuum holding one to be waited out."""

    def run() -> None:
        _outwait_autovacuum(schema_editor.connection, list(on))
        schema_editor.execute(statement, params=None)

    step(schema_editor, run, statement)


def execute_all(schema_editor, statements: Iterable[str], on: list[str] = ()) -> None:
    for statement in statements:
        execute(schema_editor, statement, on)


def lock(schema_editor, relations: list[str]) -> None:
    """``LOCK`` the quoted ``relations`` in one statement, in the order given.

    Each lock it waits for gets an equal share of one lock_timeout, so however many
    are busy, the step lets go of everything within one lock_timeout. An application
    session that waits on a lock the step already holds, while the step waits on one
    that session holds, is in a cycle that Postgres checks after deadlock_timeout
    (1 s by default) and breaks by failing that session; the step must give up first.
    """
    if not relations:
        return
    statement = f"LOCK TABLE {', '.join(relations)} IN ACCESS EXCLUSIVE MODE"
    share = max(1, conf.lock_timeout_ms() // len(relations))

    def take() -> None:
        _outwait_autovacuum(schema_editor.connection, relations)
        previous = _set_lock_timeout(schema_editor.connection, f"{share}ms")
        schema_editor.execute(statement, params=None)
        _set_lock_timeout(schema_editor.connection, previous)

    step(schema_editor, take, statement)


def execute_concurrently(
    schema_editor, statement: str, undo_failed: str | None = None, on: list[str] = ()
) -> None:
    """Run a statement that must not be inside a transaction (``… CONCURRENTLY``).

    The lock_timeout is set for the session around it. A concurrent index build
    that gives up leaves an INVALID index behind; ``undo_failed`` removes it before
    the next try. An autovacuum holding a relation of ``on`` is cancelled first, in a
    transaction of its own; one that comes back before the statement costs a try.
    """
    connection = schema_editor.connection
    attempts = conf.ddl_attempts()
    for attempt in range(1, attempts + 1):
        try:
            if on:
                with transaction.atomic(using=connection.alias):
                    _outwait_autovacuum(connection, list(on))
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT pg_catalog.set_config('lock_timeout', %s, false)",
                    [f"{conf.lock_timeout_ms()}ms"],
                )
            try:
                schema_editor.execute(statement, params=None)
            finally:
                with connection.cursor() as cursor:
                    cursor.execute("RESET lock_timeout")
            return
        except OperationalError as exc:
            if not _is_busy(exc):
                raise
            if attempt == attempts:
                raise _exhausted(connection, attempts, statement) from exc
            if undo_failed:
                schema_editor.execute(undo_failed, params=None)
            _back_off(attempt, attempts)
