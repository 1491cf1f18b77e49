"""Objects compat_views did not create, in a legacy schema: keep them out, never drop them.

A session whose search_path puts an existing legacy schema first creates in it whatever
it names without a schema: the tables of a ``migrate`` run by the legacy colour (a new
app's, any CreateModel's, with their sequences), or a table, sequence or function made
by a legacy ``psql`` session. Only that colour's sessions see them there, and ending the
rollout drops the schema. So ``migrate`` refuses such a session any plan before it runs
(``refuse_migrate``), and ``complete`` and ``rollback`` refuse to drop a legacy schema
that holds anything but the rollout's views, or whose views other objects depend on,
naming each with the statement that moves it out (``refuse``). The schema itself is
dropped without CASCADE, so PostgreSQL refuses whatever a check here did not foresee.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import DEFAULT_DB_ALIAS, connections

from . import catalog, naming
from .errors import ForeignObjects, RolloutConflict
from .models import Rollout
from .sql import ident

# How ALTER names the kinds pg_identify_object gives, where the two differ.
_ALTER_KIND = {"statistics object": "STATISTICS"}


def refuse_migrate(plan=None, using: str = DEFAULT_DB_ALIAS, **kwargs) -> None:
    """``pre_migrate`` receiver: refuse a plan from a session that would create its
    objects in a legacy schema, before any of it runs.

    Any plan with migrations to apply, either way: a RunSQL or RunPython may create
    objects as well as a CreateModel. A ``migrate`` with nothing to apply, as at every
    start of an old release's process, runs no query here. The session is judged by where
    it creates objects, not by its COMPAT_VIEWS_COLOUR: a colour joined through
    ``PGOPTIONS`` or ``ALTER ROLE … SET search_path`` counts too, and a colour whose
    legacy schema does not exist (the new colour, a third colour) or that it may not use
    creates them in its base schema, like a session with no colour.
    """
    connection = connections[using]
    if connection.vendor != "postgresql" or not plan:
        return
    schema, search_path = catalog.creation_schema(connection)
    if schema is None or not schema.startswith(naming.SCHEMA_PREFIX):
        return
    rollout = _pending(connection)
    if rollout is not None and schema == naming.legacy_schema(rollout.legacy_colour):
        legacy, new = rollout.legacy_colour, rollout.new_colour
        raise RolloutConflict(
            f"A rollout from {legacy} to {new} is pending and this process is {legacy}. Its "
            f"search_path puts {schema} first ({search_path}), so this migrate "
            f"would create its tables there, where only {legacy}'s sessions see them and "
            "which ending the rollout removes. Finish the rollout first (`manage.py compat "
            "complete` or `manage.py compat rollback`), then migrate; or run this migrate as "
            f"{new} (COMPAT_VIEWS_COLOUR={new}, with {schema} out of the search_path), whose "
            f"sessions create them in {catalog.first_base_schema(connection)}. Nothing was "
            "changed."
        )
    raise RolloutConflict(
        f"This migrate would create its tables in schema {schema}, first in this session's "
        f"search_path ({search_path}). compat_views owns the schemas "
        f"named {naming.SCHEMA_PREFIX}*, and no pending rollout uses this one (`manage.py "
        "compat status` lists it as a leftover): only sessions that put it first would see "
        "them. Take it out of the search_path, or drop it once nothing in it is needed, "
        "then migrate again. Nothing was changed."
    )


def _pending(connection) -> Rollout | None:
    """The pending rollout, if this database has the state tables (a fresh one may not)."""
    from .lifecycle import STATE_TABLE, pending  # lifecycle calls in here: import late

    if STATE_TABLE not in connection.introspection.table_names():
        return None
    return pending(connection.alias)


@dataclass(frozen=True)
class Found:
    """What stops a legacy schema from being dropped: ``strays`` (objects in it that
    compat_views did not create) and ``dependents`` ((object, legacy view it depends on)
    pairs, wherever the object is)."""

    schema: str
    strays: list[catalog.SchemaObject]
    dependents: list[tuple[str, str]]

    def __bool__(self) -> bool:
        return bool(self.strays or self.dependents)


def find(connection, rollout: Rollout) -> Found:
    """The objects that keep the rollout's legacy schema from being dropped.

    compat_views creates nothing in a legacy schema but the views of the rollout's
    tables (its step functions and triggers live with the base tables), so anything
    else there is somebody else's.
    """
    schema = naming.legacy_schema(rollout.legacy_colour)
    views = [touched.legacy_name for touched in rollout.tables.all()]
    dependents = catalog.view_dependents(connection, schema, views)
    depending = {dependent for dependent, _ in dependents}
    strays = [
        item
        for item in catalog.schema_objects(connection, schema)
        if not (item.relkind == "v" and item.name in views)
        and f"{item.kind} {item.identity}" not in depending
    ]
    return Found(schema, strays, dependents)


def move(item: catalog.SchemaObject, schema: str) -> str:
    """The statement that moves ``item`` to ``schema``, keeping its rows and grants."""
    kind = _ALTER_KIND.get(item.kind, item.kind.upper())
    return f"ALTER {kind} {item.identity} SET SCHEMA {ident(schema)}"


def refuse(connection, rollout: Rollout) -> None:
    """Refuse to end the rollout while its legacy schema holds somebody else's objects.

    Not even --force drops them: it is about connected sessions, and these are data.
    Each is named with the statement that moves it to the base schema, which every
    colour's search_path has, so whoever uses it finds it there.
    """
    found = find(connection, rollout)
    if not found:
        return
    base = catalog.first_base_schema(connection)
    lines = []
    if found.strays:
        lines += [
            f"Schema {found.schema} holds objects compat_views did not create (made by a "
            f"session whose search_path put {found.schema} first: a {rollout.legacy_colour} "
            f"`migrate` or `psql` session, say). Move each to {base}, where every colour "
            "finds it, or drop it yourself if nothing needs it:",
            *(f"  {item.kind} {item.identity}: {move(item, base)};" for item in found.strays),
        ]
    if found.dependents:
        lines += [
            f"These objects depend on the legacy views in {found.schema}, which go with it: "
            "define them over the base tables instead, or drop them:",
            *(f"  {dependent} (uses {view})" for dependent, view in found.dependents),
        ]
    raise ForeignObjects(
        "\n".join(
            [
                f"Ending the rollout drops schema {found.schema}, and compat_views drops no "
                "object it did not create (--force does not change that).",
                *lines,
                "Then run the command again. Nothing was changed.",
            ]
        )
    )
