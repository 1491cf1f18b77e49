"""What each kind of operation does to its base table at expand, complete and rollback.

Rendered from the operation's stored spec alone, so ``compat rollback`` works from
the database state even when run from a release that lacks the migration files.
"""

from __future__ import annotations

from collections.abc import Mapping

from .mapping import ADD_COLUMN, RENAME_COLUMN
from .naming import OBJECT_PREFIX, digest
from .sql import ident


def _alter(schema: str, table: str, action: str) -> str:
    return f"ALTER TABLE {ident(schema, table)} {action}"


def expand(schema: str, table: str, spec: Mapping) -> list[str]:
    if spec["kind"] == RENAME_COLUMN:
        return [
            _alter(schema, table, f"RENAME COLUMN {ident(spec['old'])} TO {ident(spec['new'])}")
        ]
    # With `up` the column starts NULL everywhere: the backfill fills exactly the NULLs.
    column = f"ADD COLUMN {ident(spec['column'])} {spec['type']}"
    if not spec.get("up"):
        if spec.get("default") is not None:
            column += f" DEFAULT {spec['default']}"
        if spec["not_null"]:
            column += " NOT NULL"
    return [_alter(schema, table, column)]


def finish(schema: str, table: str, spec: Mapping) -> list[str]:
    """Work left for ``complete``: what the legacy colour needed until now."""
    if spec["kind"] != ADD_COLUMN:
        return []
    column = ident(spec["column"])
    statements = []
    if spec.get("default") is not None:
        if spec.get("up") and spec.get("db_default"):
            statements.append(
                _alter(schema, table, f"ALTER COLUMN {column} SET DEFAULT {spec['default']}")
            )
        elif not spec.get("up") and not spec.get("db_default"):
            statements.append(_alter(schema, table, f"ALTER COLUMN {column} DROP DEFAULT"))
    if spec.get("up") and spec["not_null"]:
        # SET NOT NULL on its own scans the table under an exclusive lock; a validated
        # CHECK lets Postgres skip that scan and VALIDATE holds a weaker lock.
        check = ident(f"{OBJECT_PREFIX}nn_{digest(schema, table, spec['column'])}")
        statements += [
            _alter(schema, table, f"ADD CONSTRAINT {check} CHECK ({column} IS NOT NULL) NOT VALID"),
            _alter(schema, table, f"VALIDATE CONSTRAINT {check}"),
            _alter(schema, table, f"ALTER COLUMN {column} SET NOT NULL"),
            _alter(schema, table, f"DROP CONSTRAINT {check}"),
        ]
    return statements


def undo(schema: str, table: str, spec: Mapping) -> list[str]:
    if spec["kind"] == RENAME_COLUMN:
        return [
            _alter(schema, table, f"RENAME COLUMN {ident(spec['new'])} TO {ident(spec['old'])}")
        ]
    return [_alter(schema, table, f"DROP COLUMN {ident(spec['column'])}")]
