"""What Django's data commands (``flush``, ``loaddata``) must do while a rollout is pending.

Django's ``TransactionTestCase`` flushes after each test and ``TestCase.fixtures`` load
through ``loaddata``, so these are what lets a release's own suite run on a database with
a rollout pending (``compat rehearse``).

- ``flush`` truncates every table of the installed models that the session sees. The
  rollout's state tables (``compat_views``' own) must keep their rows: they describe the
  views and triggers that stay in the database, and ``compat rollback`` / ``complete``
  need them.
- A session of the legacy colour resolves each touched table's name to its view in
  ``compat_<colour>``, which ``flush`` leaves out (views cannot be truncated): the base
  tables behind the views are added, by their current names from the rollout's state (a
  table the rollout renamed too), or a ``TransactionTestCase`` would leak rows into the
  next test, and a visible table one of them references could not be truncated alone.
- A table the models do not know with a foreign key to one of theirs (one the next
  release added) would make the TRUNCATE fail: it is emptied too, as ``CASCADE`` would.
- ``loaddata`` moves each sequence past the primary keys it loaded with
  ``pg_get_serial_sequence`` on the model's table, which is NULL on a view: the next
  insert would take a loaded key. Through a view the base table's sequence is moved.

(``TransactionTestCase.reset_sequences`` resets the sequences Django's introspection
finds, which for a table behind a view are none: see the README.)
"""

from __future__ import annotations

from django.apps import apps
from django.core.management.color import no_style
from django.db import models as django_models

from . import catalog, lifecycle, naming
from .models import Rollout, TouchedTable
from .sql import ident, literal


def pending(connection) -> Rollout | None:
    """The pending rollout, if this database has the state tables."""
    if lifecycle.STATE_TABLE not in connection.introspection.table_names():
        return None
    return lifecycle.pending(connection.alias)


def behind_views(connection, rollout: Rollout) -> dict[str, TouchedTable]:
    """The rollout's tables by the names this session knows them by: their legacy
    views' in a session of its legacy colour, none in any other session."""
    schema, _ = catalog.creation_schema(connection)
    if schema != naming.legacy_schema(rollout.legacy_colour):
        return {}
    return {touched.legacy_name: touched for touched in rollout.tables.order_by("pk")}


def flush_tables(connection) -> list[str] | None:
    """The quoted tables to truncate; None for Django's flush as it is (no rollout pending
    and no table outside the models referencing theirs)."""
    rollout = pending(connection)
    visible = connection.introspection.django_table_names(only_existing=True, include_views=False)
    found = [ident(table) for table in visible]
    if rollout is not None:
        state = {model._meta.db_table for model in apps.get_app_config("compat_views").get_models()}
        found = [ident(table) for table in visible if table not in state]
        models = set(connection.introspection.django_table_names())
        hidden = behind_views(connection, rollout)
        found += [ident(t.schema, t.table) for name, t in hidden.items() if name in models]
    others = referencing(connection, found)
    if rollout is None and not others:
        return None
    return found + others


_REFERENCING = """
WITH RECURSIVE referencing(oid) AS (
    SELECT c.conrelid FROM pg_catalog.pg_constraint c
    WHERE c.contype = 'f' AND c.confrelid = ANY(%(tables)s::pg_catalog.regclass[])
    UNION
    SELECT c.conrelid FROM pg_catalog.pg_constraint c JOIN referencing r ON c.confrelid = r.oid
    WHERE c.contype = 'f'
)
SELECT n.nspname, t.relname FROM referencing r
JOIN pg_catalog.pg_class t ON t.oid = r.oid
JOIN pg_catalog.pg_namespace n ON n.oid = t.relnamespace
WHERE r.oid <> ALL(%(tables)s::pg_catalog.regclass[]) AND NOT t.relispartition
ORDER BY 1, 2
"""


def referencing(connection, found: list[str]) -> list[str]:
    """The tables outside ``found`` whose foreign keys reach a table of it, quoted.

    The models do not know them (a table the next release added, with a foreign key to
    one of this release's), and a TRUNCATE that leaves them out fails; flush, which
    empties every table the models know, empties them too.
    """
    if not found:
        return []
    with connection.cursor() as cursor:
        cursor.execute(_REFERENCING, {"tables": found})
        return [ident(schema, table) for schema, table in cursor.fetchall()]


def truncate(found: list[str], reset_sequences: bool, allow_cascade: bool) -> list[str]:
    """One TRUNCATE of them all (together, so foreign keys between them do not stop it)."""
    if not found:
        return []
    restart = " RESTART IDENTITY" if reset_sequences else ""
    return [f"TRUNCATE {', '.join(found)}{restart}{' CASCADE' if allow_cascade else ''}"]


def sequence_resets(connection, models) -> list[str] | None:
    """``loaddata``'s sequence resets with each model behind a view aimed at its base
    table's sequence; None when no rollout is pending (Django's own SQL)."""
    rollout = pending(connection)
    hidden = behind_views(connection, rollout) if rollout is not None else {}
    if not hidden:
        return None
    others = [model for model in models if model._meta.db_table not in hidden]
    statements = connection.ops.sequence_reset_sql(no_style(), others)
    for model in models:
        touched = hidden.get(model._meta.db_table)
        key = next(
            (f for f in model._meta.local_fields if isinstance(f, django_models.AutoField)), None
        )
        if touched is None or key is None:
            continue
        column = ident(key.column)
        base = literal(ident(touched.schema, touched.table))
        physical = literal(lifecycle.plan_of(touched).mapping.get(key.column, key.column))
        statements.append(
            f"SELECT pg_catalog.setval(pg_catalog.pg_get_serial_sequence({base}, {physical}), "
            f"coalesce(max({column}), 1), max({column}) IS NOT NULL) "
            f"FROM {ident(model._meta.db_table)}"
        )
    return statements
