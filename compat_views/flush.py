"""What ``flush`` must empty while a rollout is pending.

Two things differ from Django's flush, which truncates every table of the installed
models that the session sees. The rollout's state tables (``compat_views``' own) keep
their rows: they describe the views and triggers that stay in the database, and
``compat rollback`` / ``complete`` need them. And a session of the legacy colour
resolves each touched table's name to its view in ``compat_<colour>``, which Django
leaves out (views cannot be truncated): the base tables behind the views are added, by
their current names from the rollout's state (a table the rollout renamed too), or a
``TransactionTestCase`` of the serving release would leak rows into the next test, and
a visible table one of them references could not be truncated alone.
"""

from __future__ import annotations

from django.apps import apps

from . import catalog, lifecycle, naming
from .sql import ident


def tables(connection) -> list[str] | None:
    """The quoted tables to truncate, or None when no rollout is pending (Django's flush)."""
    if lifecycle.STATE_TABLE not in connection.introspection.table_names():
        return None
    rollout = lifecycle.pending(connection.alias)
    if rollout is None:
        return None
    state = {model._meta.db_table for model in apps.get_app_config("compat_views").get_models()}
    visible = connection.introspection.django_table_names(only_existing=True, include_views=False)
    found = [ident(table) for table in visible if table not in state]
    schema, _ = catalog.creation_schema(connection)
    if schema == naming.legacy_schema(rollout.legacy_colour):
        models = set(connection.introspection.django_table_names())
        found += [
            ident(touched.schema, touched.table)
            for touched in rollout.tables.order_by("pk")
            if touched.legacy_name in models
        ]
    return found


def truncate(found: list[str], reset_sequences: bool, allow_cascade: bool) -> list[str]:
    """One TRUNCATE of them all (together, so foreign keys between them do not stop it)."""
    if not found:
        return []
    restart = " RESTART IDENTITY" if reset_sequences else ""
    return [f"TRUNCATE {', '.join(found)}{restart}{' CASCADE' if allow_cascade else ''}"]
