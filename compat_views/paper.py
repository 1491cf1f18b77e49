"""The tables ``sqlmigrate`` shows SQL for, as the migration's earlier operations leave them.

Collecting a migration's SQL (``schema_editor.collect_sql``) runs none of it, so while
the database still has each table as it was before the migration (or has no table at
all, when the migrations before it are not applied either), an operation may refer to a
table or column an earlier operation of the same migration renamed or added. Each
compat operation's target is therefore read as ``migrate`` would read it the first
time the migration touches the table (``lifecycle.target``), or described from the
model state when the database lacks the table, and each operation records on paper
what its spec does to it (``apply``): the next one sees the table renamed, its columns
renamed, put aside and added, and renders the statements ``migrate`` will run.

What only the database can tell about a table that exists only on paper (comments and
grants set outside Django, indexes and constraints an AlterField carries over) is
missing from it; none of it changes the statements ``sqlmigrate`` shows.
"""

from __future__ import annotations

import dataclasses
from weakref import WeakKeyDictionary

from django.db.migrations.recorder import MigrationRecorder
from django.db.models import NOT_PROVIDED, Field
from django.db.models.fields import AutoFieldMixin

from . import catalog, lifecycle
from .mapping import RENAME_TABLE, compose, extend

# One schema editor collects one migration: {schema editor: {table name now: Target}}.
_tables: WeakKeyDictionary = WeakKeyDictionary()


def db_default_sql(schema_editor, field: Field) -> str | None:
    """The field's db_default as SQL: a database default, which stays after complete."""
    if getattr(field, "db_default", NOT_PROVIDED) is NOT_PROVIDED:
        return None
    text, params = schema_editor.db_default_sql(field)
    return schema_editor.connection.ops.compose_sql(text, params)


def _state_column(schema_editor, field: Field) -> catalog.Column:
    """A column as the model state describes it, for a table the database lacks."""
    return catalog.Column(
        name=field.column,
        type=field.db_type(schema_editor.connection),
        not_null=not field.null,
        default=db_default_sql(schema_editor, field),
        identity=isinstance(field, AutoFieldMixin),  # Django makes them identity columns
        generated=str(field.expression) if getattr(field, "generated", False) else None,
    )


def _applied(connection, migration) -> bool:
    recorded = MigrationRecorder(connection).applied_migrations()
    return migration is not None and (migration.app_label, migration.name) in recorded


def target(schema_editor, model, migration=None) -> lifecycle.Target:
    """The table ``model`` names, as the operations of ``migration`` collected so far
    leave it.

    The database describes it while it has the table with the columns the state has
    before the migration: not once the migration is applied (its SQL is then shown as
    for a database where only its predecessors are), nor while they are not all applied.
    Otherwise the model state does, and a comment in the SQL says so.
    """
    table = model._meta.db_table
    found = _tables.get(schema_editor, {}).get(table)
    if found is not None:
        return found
    connection = schema_editor.connection
    fields = model._meta.concrete_fields
    if catalog.base_tables(connection, [table]):
        found = lifecycle.target(connection, table)
        if not _applied(connection, migration) and {f.column for f in fields} <= set(found.columns):
            return found
        schema_editor.execute(
            f"-- compat_views: {table} is described from the migration state: the database "
            "has it in another shape (this migration or a later one is applied, or an "
            "earlier one is not)",
            params=None,
        )
    columns = {field.column: _state_column(schema_editor, field) for field in fields}
    plan = compose(list(columns), [])
    return lifecycle.Target(
        catalog.first_base_schema(connection),
        table,
        plan,
        model._meta.pk.column,
        lifecycle.generated_columns(columns, plan),
        columns,
    )


def apply(schema_editor, target: lifecycle.Target, spec: dict) -> None:
    """Record on paper what ``spec`` does to ``target``'s table.

    The plan replays the spec; each column keeps its description (and its name in the
    database) under the name the spec gives it, and a column the spec adds is
    described from the spec.
    """
    plan = extend(target.plan, [spec])
    before = target.plan.physical
    renamed = {before[i]: name for i, name in plan.physical.items() if i in before}
    columns = {
        renamed.get(name, name): dataclasses.replace(column, name=renamed.get(name, name))
        for name, column in target.columns.items()
    }
    for identity, name in plan.physical.items():
        if identity not in before:
            columns[name] = catalog.Column(
                name, spec["type"], spec["not_null"], spec.get("default"), identity=False
            )
    table = spec["new"] if spec["kind"] == RENAME_TABLE else target.table
    tables = _tables.setdefault(schema_editor, {})
    tables.pop(target.table, None)
    tables[table] = dataclasses.replace(
        target,
        table=table,
        plan=plan,
        generated=lifecycle.generated_columns(columns, plan),
        columns=columns,
        stored_columns={renamed.get(name, name): at for name, at in target.stored_columns.items()},
    )
