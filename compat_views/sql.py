"""Quoting and the one DDL executor: short lock_timeout, retried with backoff.

Identifiers go through psycopg's ``sql.Identifier`` (it escapes embedded quotes,
which Django's ``quote_name`` does not). Every statement is handed to
``schema_editor.execute`` with ``params=None`` so ``sqlmigrate`` and SQL logging
show it verbatim and a ``%`` in a user expression is never read as a placeholder.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Iterable

from django.db import OperationalError, transaction
from psycopg import errors as pg_errors
from psycopg import sql

from . import conf
from .errors import LockTimeoutExhausted

logger = logging.getLogger("compat_views")


def ident(*parts: str) -> str:
    """A quoted, dot-joined identifier such as ``"public"."Book"``."""
    return ".".join(sql.Identifier(part).as_string(None) for part in parts)


def literal(value: object) -> str:
    """A SQL literal for text, numbers and booleans (no connection needed)."""
    return sql.Literal(value).as_string(None)


def _is_lock_timeout(exc: BaseException) -> bool:
    cause = exc.__cause__ or exc
    return isinstance(cause, pg_errors.LockNotAvailable)


def _back_off(attempt: int, attempts: int) -> None:
    """Exponential, capped and jittered, so retrying sessions do not move in lockstep."""
    pause = min(conf.ddl_max_backoff(), 0.05 * 2**attempt) * random.uniform(0.5, 1.0)
    logger.info("lock busy, retrying in %.2fs (try %d/%d)", pause, attempt, attempts)
    time.sleep(pause)


def execute(schema_editor, statement: str) -> None:
    """Run one DDL statement under ``lock_timeout``, retrying while the lock is busy.

    A DDL statement that queues for a lock makes every later query on the table
    queue behind it, so a long transaction elsewhere would stall the application.
    With a short lock_timeout the statement gives up instead, its savepoint rolls
    back, the application's queries proceed, and we try again after a backoff.
    """
    if schema_editor.collect_sql:
        schema_editor.execute(statement, params=None)
        return
    connection = schema_editor.connection
    attempts = conf.ddl_attempts()
    for attempt in range(1, attempts + 1):
        try:
            with transaction.atomic(using=connection.alias):
                with connection.cursor() as cursor:
                    cursor.execute("SELECT pg_catalog.current_setting('lock_timeout')")
                    previous = cursor.fetchone()[0]
                    cursor.execute(
                        "SELECT pg_catalog.set_config('lock_timeout', %s, true)",
                        [f"{conf.lock_timeout_ms()}ms"],
                    )
                schema_editor.execute(statement, params=None)
                with connection.cursor() as cursor:
                    cursor.execute(
                        "SELECT pg_catalog.set_config('lock_timeout', %s, true)", [previous]
                    )
            return
        except OperationalError as exc:
            if not _is_lock_timeout(exc):
                raise
            if attempt == attempts:
                raise LockTimeoutExhausted(
                    f"Gave up after {attempts} tries: another transaction kept a lock this "
                    f"statement needs.\n  {statement.strip()[:300]}\nFind it in pg_stat_activity "
                    "/ pg_locks, let it finish, then run the command again."
                ) from exc
            _back_off(attempt, attempts)


def execute_all(schema_editor, statements: Iterable[str]) -> None:
    for statement in statements:
        execute(schema_editor, statement)


def execute_concurrently(schema_editor, statement: str, undo_failed: str | None = None) -> None:
    """Run a statement that must not be inside a transaction (``… CONCURRENTLY``).

    The lock_timeout is set for the session around it. A concurrent index build
    that gives up leaves an INVALID index behind; ``undo_failed`` removes it before
    the next try.
    """
    connection = schema_editor.connection
    attempts = conf.ddl_attempts()
    for attempt in range(1, attempts + 1):
        try:
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
            if not _is_lock_timeout(exc) or attempt == attempts:
                raise
            if undo_failed:
                schema_editor.execute(undo_failed, params=None)
            _back_off(attempt, attempts)
