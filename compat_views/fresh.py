"""Tables the running ``migrate`` created, on which compat operations run as plain ones.

No older release reads a table that the same ``migrate`` run created (every table
of a fresh database, Django's test database or a CI database; a new model of this
release), so there is no legacy shape to keep: its compat operations run as their
plain twins and open no rollout, with no setting and no colour needed (their ``up`` and
``down`` are still checked against the table, as a rollout would: ``operations.base``). A
``pre_migrate`` receiver notes which tables exist before the plan runs, keyed to
that plan's Migration objects (the ones Django's ``migrate`` then applies), and
``post_migrate`` forgets it. After a crashed ``migrate`` the note stays behind
harmlessly: no later run applies those objects, and its own ``pre_migrate``
replaces it. Tables are known by OID, so one the plan renames stays the old table.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import DEFAULT_DB_ALIAS, connections
from django.db.migrations import Migration

from . import catalog, sql


@dataclass(frozen=True)
class _Snapshot:
    migrations: tuple[Migration, ...]  # the plan's, compared by identity
    tables: frozenset[int]  # OIDs of the tables that existed when the plan started


_snapshots: dict[str, _Snapshot] = {}  # by database alias


def _table_oids(connection) -> frozenset[int]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT oid FROM pg_catalog.pg_class WHERE relkind IN ('r', 'p')")
        return frozenset(oid for (oid,) in cursor.fetchall())


def snapshot(plan=None, using: str = DEFAULT_DB_ALIAS, **kwargs) -> None:
    """``pre_migrate`` receiver: note the tables that exist before ``plan`` runs."""
    _snapshots.pop(using, None)
    connection = connections[using]
    if plan and connection.vendor == "postgresql":
        _snapshots[using] = _Snapshot(tuple(m for m, _ in plan), _table_oids(connection))


def forget(using: str = DEFAULT_DB_ALIAS, **kwargs) -> None:
    """``post_migrate`` receiver: the plan has run."""
    _snapshots.pop(using, None)


def created_by_this_migrate(connection, migration: Migration | None, table: str) -> bool:
    """Whether ``table`` did not exist when the plan applying ``migration`` started.

    False outside ``migrate`` (no plan applies ``migration``) and for a table that does
    not exist at all (the operation then says so).
    """
    noted = _snapshots.get(connection.alias)
    if noted is None or not any(m is migration for m in noted.migrations):
        return False
    found = catalog.base_tables(connection, [table])
    if not found:
        return False
    with connection.cursor() as cursor:
        cursor.execute("SELECT %s::pg_catalog.regclass::oid", [sql.ident(*found[0])])
        (oid,) = cursor.fetchone()
    return oid not in noted.tables
