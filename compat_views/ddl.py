"""What each kind of operation does to its base table at expand, complete and rollback.

Rendered from the operation's stored spec alone, so ``compat rollback`` works from
the database state even when run from a release that lacks the migration files.
``finish`` is told the physical names the operation's columns have now (later
renames may have moved them); ``undo`` runs newest first, when every later
operation is already undone, so the spec's own names are the current ones.
"""

from __future__ import annotations

from collections.abc import Mapping

from . import constraints
from .mapping import (
    ADD_COLUMN,
    ALTER_COLUMN,
    REMOVE_COLUMN,
    REMOVE_TABLE,
    RENAME_COLUMN,
    RENAME_TABLE,
)
from .naming import OBJECT_PREFIX, digest
from .sql import ident, literal


def _alter(schema: str, table: str, action: str) -> str:
    return f"ALTER TABLE {ident(schema, table)} {action}"


def _rename(schema: str, table: str, old: str, new: str) -> str:
    return _alter(schema, table, f"RENAME COLUMN {ident(old)} TO {ident(new)}")


def _add_column(schema: str, table: str, column: str, spec: Mapping) -> list[str]:
    """Existing rows get ``fill``, the default evaluated once as a plain AddField gives
    them; rows inserted during the rollout get ``default``, which may differ (a callable's
    SQL twin, evaluated per row, or none). With `up` the column starts NULL everywhere, so
    the backfill fills exactly the NULLs, and keeps only a db_default, for new-shape rows.
    """
    up = spec.get("up")
    action = f"ADD COLUMN {ident(column)} {spec['type']}"
    if spec.get("collation"):
        action += f" COLLATE {ident(spec['collation'])}"
    fill = spec.get("fill")
    if fill is not None:
        action += f" DEFAULT {fill}"
    if not up and spec["not_null"]:
        action += " NOT NULL"
    statements = [_alter(schema, table, action)]
    default = spec.get("default") if spec.get("db_default") or not up else None
    if default != fill:
        change = "DROP DEFAULT" if default is None else f"SET DEFAULT {default}"
        statements.append(_alter(schema, table, f"ALTER COLUMN {ident(column)} {change}"))
    if spec.get("comment") is not None:
        target = ident(schema, table, column)
        statements.append(f"COMMENT ON COLUMN {target} IS {literal(spec['comment'])}")
    return statements


def _column_grants(schema: str, table: str, column: str, grants: list) -> list[str]:
    """The old column's grants, given on the column that replaces it: a plain
    AlterField keeps the column, and with it the roles' column privileges."""
    return [
        f"GRANT {privilege} ({ident(column)}) ON {ident(schema, table)} "
        f"TO {ident(grantee) if grantee else 'PUBLIC'}"
        for grantee, privilege in grants
    ]


def _rename_table(schema: str, old: str, new: str) -> str:
    return f"ALTER TABLE {ident(schema, old)} RENAME TO {ident(new)}"


def expand(schema: str, table: str, spec: Mapping) -> list[str]:
    kind = spec["kind"]
    if kind == RENAME_TABLE:
        return [_rename_table(schema, spec["old"], spec["new"])]
    if kind == REMOVE_TABLE:
        return []  # the legacy colour keeps using the table until complete
    if kind == RENAME_COLUMN:
        return [_rename(schema, table, spec["old"], spec["new"])]
    if kind == ADD_COLUMN:
        return _add_column(schema, table, spec["column"], spec)
    if kind == ALTER_COLUMN:
        return [
            _rename(schema, table, spec["column"], spec["aside"]),
            *_add_column(schema, table, spec["new_column"], spec),
            *_column_grants(schema, table, spec["new_column"], spec.get("column_grants", [])),
        ]
    statements = [_rename(schema, table, spec["column"], spec["aside"])]
    if spec.get("fill_default") is not None:
        column = ident(spec["aside"])
        statements.append(
            _alter(schema, table, f"ALTER COLUMN {column} SET DEFAULT {spec['fill_default']}")
        )
    return statements


def not_null_check(schema: str, table: str, column: str) -> str:
    return f"{OBJECT_PREFIX}nn_{digest(schema, table, column)}"


def _needs_not_null_check(spec: Mapping) -> bool:
    return spec["kind"] in (ADD_COLUMN, ALTER_COLUMN) and bool(spec.get("up")) and spec["not_null"]


def unprepare(schema: str, table: str, spec: Mapping, names: Mapping[str, str]) -> list[str]:
    """Undo ``prepare`` (a CHECK left NOT VALID would reject writes the rollout allows)."""
    if not _needs_not_null_check(spec):
        return []
    check = ident(not_null_check(schema, table, names["column"]))
    return [_alter(schema, table, f"DROP CONSTRAINT IF EXISTS {check}")]


def prepare(schema: str, table: str, spec: Mapping, names: Mapping[str, str]) -> list[str]:
    """Constraint work ``complete`` does first, each statement its own short transaction.

    ``ADD CONSTRAINT … NOT VALID`` takes a brief lock; ``VALIDATE`` scans the table
    under a lock that lets writes through. The validated CHECK then lets ``SET NOT
    NULL`` (in ``finish``) skip its own scan under an exclusive lock.
    """
    if not _needs_not_null_check(spec):
        return []
    column = names["column"]
    check = ident(not_null_check(schema, table, column))
    return [
        *unprepare(schema, table, spec, names),
        _alter(
            schema, table, f"ADD CONSTRAINT {check} CHECK ({ident(column)} IS NOT NULL) NOT VALID"
        ),
        _alter(schema, table, f"VALIDATE CONSTRAINT {check}"),
    ]


def _not_null(column: str, name: str | None) -> str:
    """``SET NOT NULL``, or where NOT NULL constraints have names (PostgreSQL 18), the
    same under the name the plain migration gave it (``constraints.not_null_name``)."""
    if name is None:
        return f"ALTER COLUMN {column} SET NOT NULL"
    return f"ADD CONSTRAINT {ident(name)} NOT NULL {column}"


def finish(schema: str, table: str, spec: Mapping, names: Mapping[str, str]) -> list[str]:
    """What ``complete`` runs in its final transaction: drop what only the legacy
    colour needed, and leave the columns as a plain Django migration would."""
    kind = spec["kind"]
    if kind == RENAME_COLUMN:
        return []
    if kind == RENAME_TABLE:
        return [
            _alter(schema, referencing, f"RENAME CONSTRAINT {ident(old)} TO {ident(new)}")
            for referencing, old, new in spec.get("foreign_keys", [])
        ]
    if kind == REMOVE_TABLE:
        # CASCADE as Django's DeleteModel: other tables' foreign keys to it go too.
        return [
            f"DROP TABLE IF EXISTS {ident(schema, name)} CASCADE"
            for name in [*spec.get("through", []), table]
        ]
    if kind == REMOVE_COLUMN:
        return [_alter(schema, table, f"DROP COLUMN {ident(names['aside'])}")]
    column = ident(names["column"])
    statements = []
    if kind == ALTER_COLUMN:
        statements.append(_alter(schema, table, f"DROP COLUMN {ident(names['aside'])}"))
    if spec.get("default") is not None and not spec.get("db_default") and not spec.get("up"):
        statements.append(_alter(schema, table, f"ALTER COLUMN {column} DROP DEFAULT"))
    if spec.get("up") and spec["not_null"]:
        check = ident(not_null_check(schema, table, names["column"]))
        statements += [
            _alter(schema, table, _not_null(column, spec.get("not_null_name"))),
            _alter(schema, table, f"DROP CONSTRAINT {check}"),
        ]
    statements += [constraints.attach(schema, table, item) for item in spec.get("objects", [])]
    return statements


def undo(schema: str, table: str, spec: Mapping) -> list[str]:
    kind = spec["kind"]
    if kind == RENAME_TABLE:
        return [_rename_table(schema, spec["new"], spec["old"])]
    if kind == REMOVE_TABLE:
        return []
    if kind == RENAME_COLUMN:
        return [_rename(schema, table, spec["new"], spec["old"])]
    if kind == ADD_COLUMN:
        return [_alter(schema, table, f"DROP COLUMN {ident(spec['column'])}")]
    if kind == ALTER_COLUMN:
        return [
            _alter(schema, table, f"DROP COLUMN {ident(spec['new_column'])}"),
            _rename(schema, table, spec["aside"], spec["column"]),
        ]
    statements = []
    if spec.get("fill_default") is not None:  # the column had no default before
        statements.append(
            _alter(schema, table, f"ALTER COLUMN {ident(spec['aside'])} DROP DEFAULT")
        )
    return [*statements, _rename(schema, table, spec["aside"], spec["column"])]
