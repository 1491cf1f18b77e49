"""Watch what a connection runs while it holds a table locked, up to its commit.

Django runs a migration in one transaction, so the first statement that takes ACCESS
EXCLUSIVE on a table (a ``LOCK TABLE`` or ``ALTER TABLE`` naming it) holds that lock
until the commit, and every other session's query of the table waits as long. A
``LockWindow`` is a ``connection.execute_wrapper`` that notes each statement's start and
duration, when the lock was taken and when the transaction committed: a bench times the
window (``bench/lock_window.py``), a test counts what runs inside it.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field

from django.db import DEFAULT_DB_ALIAS, transaction


@dataclass
class LockWindow:
    """The statements run through ``alias`` and the window ``table`` was locked in."""

    table: str
    alias: str = DEFAULT_DB_ALIAS
    statements: list[tuple[float, float, str]] = field(default_factory=list)  # start, s, SQL
    locked_at: float | None = None
    committed_at: float | None = None

    def __post_init__(self) -> None:
        name = re.escape(self.table)
        self._takes_lock = re.compile(
            rf'^\s*(LOCK|ALTER)\s+TABLE\b.*"{name}"', re.IGNORECASE | re.DOTALL
        )

    def __call__(self, execute, sql, params, many, context):
        started = time.perf_counter()
        if self.locked_at is None and self._takes_lock.match(sql):
            self.locked_at = started
            # Registered before anything the migration runs on commit (its backfill).
            transaction.on_commit(self._committed, using=self.alias)
        try:
            return execute(sql, params, many, context)
        finally:
            self.statements.append((started, time.perf_counter() - started, sql))

    def _committed(self) -> None:
        self.committed_at = time.perf_counter()

    @property
    def closed(self) -> bool:
        """Whether the lock was taken and its transaction committed."""
        return self.locked_at is not None and self.committed_at is not None

    @property
    def seconds(self) -> float:
        return self.committed_at - self.locked_at

    def inside(self) -> list[tuple[float, str]]:
        """(seconds, SQL) of each statement that ran while the lock was held."""
        return [
            (seconds, sql)
            for started, seconds, sql in self.statements
            if self.locked_at <= started < self.committed_at
        ]
