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


def view_grants(plan: Plan, grants: list[Grant]) -> list[Grant]:
    """The table's privileges as they belong on the view: a column grant goes to each
    legacy column the granted physical column serves, so nobody gains a privilege."""
    served: dict[str, list[str]] = {}
    for legacy, physical in plan.mapping.items():
        served.setdefault(physical, []).append(legacy)
    found = []
    for grant in grants:
        if grant.column is None:
            found.append(grant)
        for legacy in served.get(grant.column, []) if grant.column else []:
            found.append(Grant(grant.grantee, grant.privilege, legacy, grant.grantable))
    return found


def _role(grantee: str | None) -> str:
    return ident(grantee) if grantee else "PUBLIC"


def render_grant(relation: str, grant: Grant) -> str:
    on = f" ({ident(grant.column)})" if grant.column else ""
    option = " WITH GRANT OPTION" if grant.grantable else ""
    return f"GRANT {grant.privilege}{on} ON {relation} TO {_role(grant.grantee)}{option}"


def render_revoke(relation: str, grant: Grant) -> str:
    on = f" ({ident(grant.column)})" if grant.column else ""
    return f"REVOKE {grant.privilege}{on} ON {relation} FROM {_role(grant.grantee)} CASCADE"


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
        *(render_grant(qualified_view, grant) for grant in view_grants(plan, grants)),
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
        statements.append(f"GRANT USAGE ON SCHEMA {ident(legacy_schema)} TO {_role(grantee)}")
    return statements
