"""Names of every object compat_views creates, and the 63-byte identifier rule.

Everything generated carries a reserved prefix so that ``compat status`` can find
leftovers and so that django-pgtrigger's ``prune`` (which owns ``pgtrigger_*``)
never mistakes a sync trigger for one of its own.
"""

from __future__ import annotations

import hashlib

from .errors import InvalidOperation

MAX_IDENTIFIER_BYTES = 63
SCHEMA_PREFIX = "compat_"
OBJECT_PREFIX = "_compat_"


def check_identifier(name: str, what: str) -> str:
    """Refuse names Postgres would silently truncate (and so collide)."""
    size = len(name.encode("utf-8"))
    if not name:
        raise InvalidOperation(f"The {what} name is empty.")
    if size > MAX_IDENTIFIER_BYTES:
        raise InvalidOperation(
            f"The {what} name {name!r} is {size} bytes long; PostgreSQL keeps only "
            f"{MAX_IDENTIFIER_BYTES} bytes of an identifier. Choose a shorter name "
            "(db_table / db_column)."
        )
    return name


def digest(*parts: str, length: int = 10) -> str:
    return hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()[:length]


def legacy_schema(colour: str) -> str:
    return check_identifier(f"{SCHEMA_PREFIX}{colour}", "legacy schema")


def sync_trigger(schema: str, table: str, event: str, direction: str) -> str:
    """Trigger name (``event``: ``ins``/``upd``; ``direction``: ``up``/``down``);
    django-pgtrigger also gives its (unused) wrapper function this name."""
    return f"{OBJECT_PREFIX}sync_{event}_{direction}_{digest(schema, table)}"


def sync_function(schema: str, table: str, direction: str) -> str:
    """The plain plpgsql function the triggers of one direction execute."""
    return f"{OBJECT_PREFIX}row_{direction}_{digest(schema, table)}"


def sync_step(schema: str, table: str, operation: int, target: str) -> str:
    """The SQL function that evaluates one expression of a table's ``operation``-th
    operation (``target``: the column identity it computes)."""
    return f"{OBJECT_PREFIX}step_{digest(schema, table, str(operation), target)}"


def sync_unfit(schema: str, table: str, operation: int, target: str) -> str:
    """The plpgsql function a step calls, only for a value its column cannot hold, to
    raise an error that names them (``sync_step``'s arguments)."""
    return f"{OBJECT_PREFIX}unfit_{digest(schema, table, str(operation), target)}"


def sync_bare(schema: str, table: str, operation: int, target: str) -> str:
    """The SQL function a step with a fit check also gets: the same expression unchecked,
    which a backfill batch runs first (``sync_step``'s arguments)."""
    return f"{OBJECT_PREFIX}bare_{digest(schema, table, str(operation), target)}"


def sync_fit(schema: str, table: str, operation: int, target: str) -> str:
    """The domain a step casts its value to, whose CHECK calls ``sync_unfit`` for a
    value its column cannot hold (``sync_step``'s arguments)."""
    return f"{OBJECT_PREFIX}fit_{digest(schema, table, str(operation), target)}"


def aside_column(column: str, taken: set[str]) -> str:
    """A deterministic internal name for a legacy column moved out of the new shape's way."""
    stem = column.encode("utf-8")[:40].decode("utf-8", "ignore")
    for salt in range(100):
        name = f"{OBJECT_PREFIX}{stem}_{digest(column, str(salt), length=8)}"
        if name not in taken:
            return check_identifier(name, "internal column")
    raise InvalidOperation(f"No free internal name for column {column!r}.")
