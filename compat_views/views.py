"""Legacy views: the old shape of a table, rendered from its composed mapping."""

from __future__ import annotations

import hashlib

from .catalog import Column
from .mapping import Plan
from .sql import ident, literal

VIEW_COMMENT_PREFIX = "compat_views view "
_NO_DEFAULTS: dict[str, Column] = {}


def projection(pairs: list[tuple[str, str]], source: str) -> str:
    """``source."physical" AS "name", …`` for (name, physical column) pairs."""
    return ", ".join(f"{ident(source, physical)} AS {ident(name)}" for name, physical in pairs)


def _default(base: str, column: Column) -> str | None:
    """The default an INSERT through the view must see for a column it omits or sets DEFAULT.

    Identity columns keep no pg_attrdef row; their sequence is the default.
    """
    if column.default is not None:
        return column.default
    if column.identity:
        return (
            "pg_catalog.nextval(pg_catalog.pg_get_serial_sequence("
            f"{literal(base)}, {literal(column.name)})::regclass)"
        )
    return None


def render(
    legacy_schema: str,
    view: str,
    base_schema: str,
    table: str,
    plan: Plan,
    physical: dict[str, Column],
    grants: list[tuple[str | None, str]],
    security_invoker: bool,
) -> list[str]:
    """Statements that (re)create one legacy view; run them in one transaction."""
    qualified_view = ident(legacy_schema, view)
    base = ident(base_schema, table)
    options = " WITH (security_invoker = true)" if security_invoker else ""
    create = (
        f"CREATE VIEW {qualified_view}{options} AS "
        f"SELECT {projection(list(plan.mapping.items()), '_compat_base')} "
        f"FROM {base} AS {ident('_compat_base')}"
    )
    statements = [f"DROP VIEW IF EXISTS {qualified_view}", create]
    for legacy, column in plan.mapping.items():
        default = _default(base, physical[column]) if physical else None
        if default is not None:
            statements.append(
                f"ALTER VIEW {qualified_view} ALTER COLUMN {ident(legacy)} SET DEFAULT {default}"
            )
    for grantee, privilege in grants:
        role = ident(grantee) if grantee else "PUBLIC"
        statements.append(f"GRANT {privilege} ON {qualified_view} TO {role}")
    statements.append(f"COMMENT ON VIEW {qualified_view} IS {literal(comment(create))}")
    return statements


def comment(create: str) -> str:
    """The view's comment: a hash of its definition, so ``compat status`` can spot drift."""
    return VIEW_COMMENT_PREFIX + hashlib.sha256(create.encode()).hexdigest()[:16]


def expected_comment(
    legacy_schema: str, view: str, base_schema: str, table: str, plan: Plan, security_invoker: bool
) -> str:
    return comment(
        render(legacy_schema, view, base_schema, table, plan, _NO_DEFAULTS, [], security_invoker)[1]
    )


def render_schema(legacy_schema: str, grantees: set[str | None]) -> list[str]:
    statements = [
        f"CREATE SCHEMA IF NOT EXISTS {ident(legacy_schema)}",
        f"COMMENT ON SCHEMA {ident(legacy_schema)} IS "
        f"{literal('compat_views: legacy shape for the colour still serving the old release')}",
    ]
    for grantee in sorted(grantees, key=lambda g: g or ""):
        role = ident(grantee) if grantee else "PUBLIC"
        statements.append(f"GRANT USAGE ON SCHEMA {ident(legacy_schema)} TO {role}")
    return statements
