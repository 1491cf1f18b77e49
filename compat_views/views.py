"""Legacy views: the old shape of a table, rendered from its composed mapping."""

from __future__ import annotations

import hashlib

from .catalog import Grant
from .mapping import Plan
from .sql import ident, literal

VIEW_COMMENT_PREFIX = "compat_views view "


def projection(pairs: list[tuple[str, str]], source: str) -> str:
    """``source."physical" AS "name", …`` for (name, physical column) pairs."""
    return ", ".join(f"{ident(source, physical)} AS {ident(name)}" for name, physical in pairs)


def _grants(qualified_view: str, plan: Plan, grants: list[Grant]) -> list[str]:
    """The table's privileges, given on the view: a column grant goes to each legacy
    column the granted physical column serves, so nobody gains a privilege."""
    served: dict[str, list[str]] = {}
    for legacy, physical in plan.mapping.items():
        served.setdefault(physical, []).append(legacy)
    statements = []
    for grant in grants:
        role = ident(grant.grantee) if grant.grantee else "PUBLIC"
        if grant.column is None:
            statements.append(f"GRANT {grant.privilege} ON {qualified_view} TO {role}")
        elif grant.column in served:
            columns = ", ".join(map(ident, served[grant.column]))
            statements.append(f"GRANT {grant.privilege} ({columns}) ON {qualified_view} TO {role}")
    return statements


def render(
    legacy_schema: str,
    view: str,
    base_schema: str,
    table: str,
    plan: Plan,
    grants: list[Grant],
    security_invoker: bool,
) -> list[str]:
    """Statements that (re)create one legacy view; run them in one transaction.

    The view sets no column defaults: an INSERT through an auto-updatable view that
    omits a column, or says DEFAULT, gets the base column's default, identities and
    ``GENERATED ALWAYS`` included, with the base table's own privilege checks.
    """
    qualified_view = ident(legacy_schema, view)
    base = ident(base_schema, table)
    options = " WITH (security_invoker = true)" if security_invoker else ""
    create = (
        f"CREATE VIEW {qualified_view}{options} AS "
        f"SELECT {projection(list(plan.mapping.items()), '_compat_base')} "
        f"FROM {base} AS {ident('_compat_base')}"
    )
    return [
        f"DROP VIEW IF EXISTS {qualified_view}",
        create,
        *_grants(qualified_view, plan, grants),
        f"COMMENT ON VIEW {qualified_view} IS {literal(comment(create))}",
    ]


def comment(create: str) -> str:
    """The view's comment: a hash of its definition, so ``compat status`` can spot drift."""
    return VIEW_COMMENT_PREFIX + hashlib.sha256(create.encode()).hexdigest()[:16]


def expected_comment(
    legacy_schema: str, view: str, base_schema: str, table: str, plan: Plan, security_invoker: bool
) -> str:
    return comment(render(legacy_schema, view, base_schema, table, plan, [], security_invoker)[1])


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
