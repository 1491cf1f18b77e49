"""Column operations: rename, add, alter and remove a column during a rollout."""

from __future__ import annotations

import datetime
import re
import uuid

from django.conf import settings
from django.db import DatabaseError, models, transaction
from django.db.migrations.operations import AddField, AlterField, RemoveField, RenameField
from django.db.models import NOT_PROVIDED
from django.utils import timezone

from .. import catalog, constraints, lifecycle, naming, paper
from ..errors import InvalidOperation
from ..mapping import ADD_COLUMN, ALTER_COLUMN, REMOVE_COLUMN, RENAME_COLUMN
from ..sql import literal
from .base import CompatOperation


class RenameCompatColumn(CompatOperation):
    """Rename a column; the legacy colour keeps the old name through its view.

    Metadata only: no data is copied and no trigger is needed, so its cost does not
    grow with the table.
    """

    def __init__(self, model_name: str, old_name: str, new_name: str) -> None:
        self.model_name = model_name
        self.old_name = old_name
        self.new_name = new_name

    def deconstruct(self):
        kwargs = {
            "model_name": self.model_name,
            "old_name": self.old_name,
            "new_name": self.new_name,
        }
        return self.__class__.__name__, [], kwargs

    def plain(self) -> RenameField:
        return RenameField(self.model_name, self.old_name, self.new_name)

    def check_state(self, app_label, state) -> None:
        super().check_state(app_label, state)
        self.require_field(app_label, state, self.old_name)

    def describe(self) -> str:
        return (
            f"Rename field {self.old_name} on {self.model_name} to {self.new_name}, "
            "keeping the old name for the legacy colour"
        )

    def _columns(self, app_label, from_state, to_state) -> tuple[str, str]:
        old_model = from_state.apps.get_model(app_label, self.model_name)
        new_model = to_state.apps.get_model(app_label, self.model_name)
        return (
            old_model._meta.get_field(self.old_name).column,
            new_model._meta.get_field(self.new_name).column,
        )

    def changes_database(self, app_label, from_state, to_state) -> bool:
        """A db_column that keeps the name leaves only Django's state to change."""
        old_column, new_column = self._columns(app_label, from_state, to_state)
        return old_column != new_column

    def expand(self, app_label, schema_editor, from_state, to_state) -> None:
        if not self.changes_database(app_label, from_state, to_state):
            return
        old_model = from_state.apps.get_model(app_label, self.model_name)
        old_column, new_column = self._columns(app_label, from_state, to_state)
        naming.check_identifier(new_column, "column")
        target = self.target(schema_editor, old_model)
        spec = {"kind": RENAME_COLUMN, "old": old_column, "new": new_column}
        self.run(app_label, schema_editor, target, spec)


# Callables Django calls once per model instance whose value PostgreSQL can compute once per
# row instead. statement_timestamp() is what Django's own ``Now()`` uses: the rows of one
# statement share its moment.
_NOW = "pg_catalog.statement_timestamp()"
_TIMESTAMPTZ, _TIMESTAMP = "timestamp with time zone", "timestamp without time zone"
_TIME = "time without time zone"
_UUID_SINCE = 130000  # gen_random_uuid() is built in from PostgreSQL 13
_CLOCKS = (timezone.now, datetime.date.today)
# Callables every call of which returns an equal value (``default=dict``): one value is exact.
_CONSTANT_CALLABLES = (dict, list, tuple, set, frozenset, str, bytes, int, float, bool)


def _column_type(type_sql: str) -> str:
    """A column type as ``format_type()`` names it, without modifiers (a custom field may say
    ``timestamptz(3)``): what Django stores for the current time depends on it."""
    name = " ".join(re.sub(r"\(.*?\)", " ", type_sql.lower()).split())
    return {"timestamptz": _TIMESTAMPTZ, "timestamp": _TIMESTAMP, "time": _TIME}.get(name, name)


def _wall_clock(zone: str | None, cast: str) -> str | None:
    """The current time on the clocks of ``zone``, whichever TimeZone the inserting session
    has (a Django session of either colour, or any other client)."""
    return f"({_NOW} AT TIME ZONE {literal(zone)}){cast}" if zone else None


def _clock_sql(function, column_type: str, connection) -> str | None:
    """What Django stores for ``function()`` in a ``column_type`` column, as per-row SQL.

    timezone.now() is an instant with USE_TZ, else the naive local time in TIME_ZONE. A
    timestamptz column stores the instant. A timestamp column stores the wall time of the
    connection's zone (a session in that zone casts the aware value; without USE_TZ that
    zone is TIME_ZONE). DateField converts an aware value to TIME_ZONE before taking its
    date; TimeField takes the time as it is (UTC with USE_TZ). date.today() is the date in
    the process's zone, which Django sets to TIME_ZONE.
    """
    now_zone = "UTC" if settings.USE_TZ else settings.TIME_ZONE
    twins = {
        _TIMESTAMPTZ: _NOW,
        _TIMESTAMP: _wall_clock(connection.timezone_name, ""),
        "date": _wall_clock(settings.TIME_ZONE, "::date"),
        _TIME: _wall_clock(now_zone, "::time"),
    }
    if function == datetime.date.today:
        return twins["date"] if column_type == "date" else None
    return twins.get(column_type)


def _once_sql(schema_editor, field: models.Field) -> str | None:
    """The Python default evaluated once: what a plain AddField gives existing rows."""
    if not field.has_default():
        return None
    value = schema_editor.effective_default(field)
    return None if value is None else schema_editor.quote_value(value)


def _varies_per_call(field: models.Field) -> bool:
    """A callable default whose calls may each return another value: one would not do."""
    return (
        field.has_default() and callable(field.default) and field.default not in _CONSTANT_CALLABLES
    )


def constant_default(field: models.Field) -> object:
    """The field's default when every call gives the same value, else NOT_PROVIDED: the
    value makemigrations can write into an expression as a literal."""
    if not field.has_default() or _varies_per_call(field):
        return NOT_PROVIDED
    return field.get_default()


def default_serves_rows(field: models.Field) -> bool:
    """Whether the operations give rows inserted without the column the field's default on
    their own (a constant, or a callable ``_per_row_sql`` runs as SQL), so that neither
    `up` nor `down` is needed for it."""
    return field.has_default() and (
        not _varies_per_call(field) or field.default in (uuid.uuid4, *_CLOCKS)
    )


def _per_row_sql(what: str, schema_editor, field: models.Field) -> str | None:
    """The Python default as SQL that PostgreSQL evaluates for each row inserted without
    the column, as Django calls it for each instance; None for a callable with no SQL
    twin, whose one value frozen for every row would be wrong (a unique violation on the
    second row, or the migration's time in every row)."""
    if not _varies_per_call(field):
        return _once_sql(schema_editor, field)
    connection = schema_editor.connection
    if field.default == uuid.uuid4:
        if catalog.server_version(connection) < _UUID_SINCE:
            return None
        return "pg_catalog.gen_random_uuid()"
    if field.default not in _CLOCKS:
        return None
    sql = _clock_sql(field.default, _column_type(field.db_type(connection)), connection)
    if sql not in (None, _NOW):
        _refuse_unknown_zone(what, connection, sql)
    return sql


def _refuse_unknown_zone(what: str, connection, sql: str) -> None:
    """Evaluate a clock twin once, before any DDL: a TIME_ZONE that this server's time zone
    data lacks would otherwise fail every insert of the rollout that needs the default."""
    try:
        with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
            cursor.execute(f"SELECT {sql}")
    except DatabaseError as exc:
        detail = str(exc.__cause__ or exc).strip().splitlines()[0]
        raise InvalidOperation(
            f"{what}: rows inserted without the column would get {sql}, the SQL twin of the "
            f"field's default, and PostgreSQL refuses it: {detail}. Set TIME_ZONE (and the "
            "database's TIME_ZONE) to a zone in this server's pg_timezone_names, or update "
            "its time zone data; nothing was changed."
        ) from exc


def _dotted(function) -> str:
    """``datetime.date.today`` as a message names it (a builtin's method has no module)."""
    module = (
        getattr(function, "__module__", None) or getattr(function, "__self__", function).__module__
    )
    return f"{module}.{getattr(function, '__qualname__', function)}"


def _callable_problem(schema_editor, field: models.Field) -> str | None:
    """Why a callable default cannot serve rows inserted during the rollout, if it is one."""
    if not _varies_per_call(field):
        return None
    name = _dotted(field.default)
    if field.default == uuid.uuid4:
        version = catalog.server_version(schema_editor.connection)
        return (
            f"its default {name}() runs as gen_random_uuid() for each row, which PostgreSQL "
            f"has from version 13 on, and this server runs {version // 10000}"
        )
    if field.default in _CLOCKS:
        column_type = _column_type(field.db_type(schema_editor.connection))
        return f"its default {name}() has no SQL twin for a {column_type} column"
    return (
        f"its default {name}() is Python code that PostgreSQL cannot run for each row (and "
        "one of its values frozen for every row would be wrong)"
    )


def column_spec(what: str, schema_editor, field: models.Field) -> dict:
    """Type, collation, nullability, default and comment of a field's new column.

    ``default`` is what a row inserted without the column gets: the db_default, or the
    Python default evaluated per row (``_per_row_sql``).
    """
    naming.check_identifier(field.column, "column")
    if getattr(field, "generated", False):
        raise InvalidOperation(
            f"{what}: the field is a GeneratedField. PostgreSQL computes a stored generated "
            "column for every row while it holds an exclusive lock on the table (a rewrite), "
            "which a rollout must not do. Use the plain operation in a maintenance window, or "
            "a plain column computed by `up`; nothing was changed."
        )
    type_sql = field.db_type(schema_editor.connection)
    if type_sql is None:
        raise InvalidOperation(f"{what}: the field has no database column.")
    db_default = paper.db_default_sql(schema_editor, field)
    return {
        "type": type_sql,
        "collation": getattr(field, "db_collation", None),
        "not_null": not field.null,
        "default": _per_row_sql(what, schema_editor, field) if db_default is None else db_default,
        "db_default": db_default is not None,
        "comment": getattr(field, "db_comment", None),
    }


def django_objects(
    operation: CompatOperation,
    app_label: str,
    schema_editor,
    from_state,
    to_state,
    target: lifecycle.Target,
    column: str,
    old_column: str | None = None,
) -> list[dict]:
    """The indexes and constraints the plain operation would leave on ``column``."""
    with schema_editor.connection.schema_editor(collect_sql=True, atomic=False) as editor:
        operation.plain().database_forwards(app_label, editor, from_state, to_state)
    created, dropped = constraints.from_django_sql(target.table, column, editor.collected_sql)
    connection = schema_editor.connection
    kept = []
    stored = old_column and target.stored(old_column)
    if stored:
        kept = [
            item
            for item in constraints.existing(connection, *stored)
            if item["name"] not in dropped and column == old_column
        ]
    by_name = {item["name"]: item for item in [*kept, *created]}
    if target.stored_table and catalog.is_partitioned(
        connection, target.schema, target.stored_table
    ):
        constraints.refuse_on_partitioned(target.table, list(by_name.values()), operation.what)
    return constraints.with_temporary_names(target.table, list(by_name.values()))


def refuse_undroppable(what: str, connection, target: lifecycle.Target, column: str) -> None:
    """``complete`` drops the old column: refuse, before any DDL, one PostgreSQL won't drop
    or retype, read by a generated column the new shape keeps or by a partition key."""
    stored = target.stored(column)
    if stored is None:  # only on sqlmigrate's paper: nothing in the database reads it yet
        return
    schema, table, name = stored
    readers = [
        reader
        for reader in catalog.generated_readers(connection, schema, table, name)
        if reader in target.plan.current
    ]
    if readers:
        raise InvalidOperation(
            f"{what}: the generated column(s) {readers} of {target.table!r} read {column!r}, "
            "and PostgreSQL can neither drop nor change a column a generated column reads. "
            "Remove them first (RemoveCompatColumn, earlier in this rollout) or change what "
            "they read; nothing was changed."
        )
    if name in catalog.partition_key_columns(connection, schema, table):
        raise InvalidOperation(
            f"{what}: {column!r} is in the partition key of {target.table!r} (or of a "
            "partition of it), and PostgreSQL cannot drop or change such a column. Keep it, "
            "or repartition the table in a plain migration; nothing was changed."
        )


def refuse_writing_generated(what: str, target: lifecycle.Target, column: str) -> None:
    if column in target.generated:
        raise InvalidOperation(
            f"{what}: {target.table}.{column} is a generated column: PostgreSQL computes it, "
            "so no `down` can write it. Remove it without `down` (the legacy colour keeps "
            "reading it as computed), and add a new definition with a plain AddField; nothing "
            "was changed."
        )


class AddCompatColumn(CompatOperation):
    """Add a column the legacy colour cannot see.

    Rows the legacy colour inserts get ``up`` (a SQL expression over the column names
    the model had before this operation) or else the field's default; existing rows
    are backfilled with ``up`` in batches after the migration commits.
    """

    def __init__(
        self, model_name: str, name: str, field: models.Field, up: str | None = None
    ) -> None:
        self.model_name = model_name
        self.name = name
        self.field = field
        self.up = up

    def deconstruct(self):
        kwargs = {"model_name": self.model_name, "name": self.name, "field": self.field}
        if self.up is not None:
            kwargs["up"] = self.up
        return self.__class__.__name__, [], kwargs

    def plain(self) -> AddField:
        return AddField(self.model_name, self.name, self.field)

    def check_state(self, app_label, state) -> None:
        super().check_state(app_label, state)
        if self.name in state.models[app_label, self.model_name.lower()].fields:
            raise InvalidOperation(
                f"AddCompatColumn: model {app_label}.{self.model_name} already has a field "
                f"{self.name!r}. Pick another name."
            )

    def describe(self) -> str:
        return f"Add field {self.name} to {self.model_name}, hidden from the legacy colour"

    def expand(self, app_label, schema_editor, from_state, to_state) -> None:
        old_model = from_state.apps.get_model(app_label, self.model_name)
        field = self.field_in(app_label, to_state)
        what = self.what
        spec = {
            "kind": ADD_COLUMN,
            "column": field.column,
            "up": self.up,
            **column_spec(what, schema_editor, field),
        }
        if spec["not_null"] and spec["default"] is None and not self.up:
            problem = _callable_problem(schema_editor, field) or "has neither `up` nor a default"
            raise InvalidOperation(
                f"{what}: the column is NOT NULL but {problem}, so rows the legacy colour "
                "inserts could not be stored. Pass `up` (a SQL expression over the legacy "
                "columns), give the field a default PostgreSQL can compute, or make it "
                "null=True."
            )
        if not self.up:  # existing rows get what a plain AddField gives them
            spec["fill"] = (
                spec["default"] if spec["db_default"] else _once_sql(schema_editor, field)
            )
        connection = schema_editor.connection
        target = self.target(schema_editor, old_model)
        if field.column in target.plan.physical.values():
            raise InvalidOperation(
                f"{what}: table {target.table!r} already has a column {field.column!r}."
            )
        if self.up:
            lifecycle.require_key(target, what)
            # complete sets NOT NULL, named as now (constraints.not_null_name)
            spec["not_null_named_after"] = [target.table, field.column]
        self.check_expressions(app_label, connection, target, from_state, to_state)
        spec["objects"] = django_objects(
            self, app_label, schema_editor, from_state, to_state, target, field.column
        )
        self.run(app_label, schema_editor, target, spec, backfill=bool(self.up))

    def check_expressions(self, app_label, connection, target, from_state, to_state) -> None:
        """``up`` over the table without the new column, cast to the new column's type."""
        type_sql = self.field_in(app_label, to_state).db_type(connection)
        if self.up and type_sql is not None:  # no column, no `up` (column_spec says so)
            lifecycle.check_expression(
                connection, target, self.up, target.scope(), type_sql, self.what
            )


class AlterCompatColumn(CompatOperation):
    """Change a column's type or meaning while the legacy colour keeps the old one.

    The legacy column moves aside under an internal ``_compat_`` name (the legacy
    view still shows it under its name), a new column takes the real name with the
    new definition, existing rows are backfilled with ``up``, and the sync trigger
    computes ``up`` for legacy writers and ``down`` for new-shape writers. ``up`` is
    over the column names before this operation, ``down`` over the names after it.
    """

    def __init__(self, model_name: str, name: str, field: models.Field, up: str, down: str) -> None:
        self.model_name = model_name
        self.name = name
        self.field = field
        self.up = up
        self.down = down

    def deconstruct(self):
        kwargs = {
            "model_name": self.model_name,
            "name": self.name,
            "field": self.field,
            "up": self.up,
            "down": self.down,
        }
        return self.__class__.__name__, [], kwargs

    def plain(self) -> AlterField:
        return AlterField(self.model_name, self.name, self.field)

    def check_state(self, app_label, state) -> None:
        super().check_state(app_label, state)
        self.require_field(app_label, state, self.name)

    def describe(self) -> str:
        return f"Alter field {self.name} on {self.model_name}, keeping the old column in sync"

    def expand(self, app_label, schema_editor, from_state, to_state) -> None:
        old_model = from_state.apps.get_model(app_label, self.model_name)
        old_column = old_model._meta.get_field(self.name).column
        field = self.field_in(app_label, to_state)
        what = self.what
        spec = {
            "kind": ALTER_COLUMN,
            "column": old_column,
            "new_column": field.column,
            "up": self.up,
            "down": self.down,
            **column_spec(what, schema_editor, field),
        }
        connection = schema_editor.connection
        target = self.target(schema_editor, old_model)
        lifecycle.require_key(target, what)
        refuse_writing_generated(what, target, old_column)
        refuse_undroppable(what, connection, target, old_column)
        stored = target.stored(old_column)
        if spec["comment"] == getattr(old_model._meta.get_field(self.name), "db_comment", None):
            # AlterField leaves the comment alone then, even one set outside Django.
            spec["comment"] = catalog.column_comment(connection, *stored) if stored else None
        taken = set(target.plan.physical.values())
        if field.column != old_column and field.column in taken:
            raise InvalidOperation(
                f"{what}: table {target.table!r} already has a column {field.column!r}."
            )
        spec["aside"] = naming.aside_column(old_column, taken)
        spec["not_null_named_after"] = [target.table, field.column]
        spec["column_grants"] = [
            [grant.grantee, grant.privilege]
            for grant in (catalog.column_grants(connection, *stored) if stored else [])
        ]
        self.check_expressions(app_label, connection, target, from_state, to_state)
        spec["objects"] = django_objects(
            self, app_label, schema_editor, from_state, to_state, target, field.column, old_column
        )
        self.run(app_label, schema_editor, target, spec, backfill=True)

    def check_expressions(self, app_label, connection, target, from_state, to_state) -> None:
        """``up`` over the table before, cast to the new type; ``down`` over the table
        after, where the new column replaced the old one, cast to the old type."""
        old_column = self.field_in(app_label, from_state).column
        field = self.field_in(app_label, to_state)
        type_sql = field.db_type(connection)
        lifecycle.check_expression(connection, target, self.up, target.scope(), type_sql, self.what)
        after = [pair for pair in target.scope() if pair[0] != old_column]
        after.append((field.column, f"NULL::{type_sql}"))
        old_type = target.columns[old_column].type
        lifecycle.check_expression(connection, target, self.down, after, old_type, self.what)


class RemoveCompatColumn(CompatOperation):
    """Stop using a column; it stays, out of the new shape's way, for the legacy colour.

    Rows the new colour writes get ``down`` (over the remaining column names) in the
    removed column, or its default, so the legacy colour never sees a missing value
    or a NOT NULL violation. ``complete`` drops it; ``rollback`` restores it.
    """

    def __init__(self, model_name: str, name: str, down: str | None = None) -> None:
        self.model_name = model_name
        self.name = name
        self.down = down

    def deconstruct(self):
        kwargs = {"model_name": self.model_name, "name": self.name}
        if self.down is not None:
            kwargs["down"] = self.down
        return self.__class__.__name__, [], kwargs

    def plain(self) -> RemoveField:
        return RemoveField(self.model_name, self.name)

    def check_state(self, app_label, state) -> None:
        super().check_state(app_label, state)
        self.require_field(app_label, state, self.name)

    def describe(self) -> str:
        return f"Remove field {self.name} from {self.model_name}, kept for the legacy colour"

    def expand(self, app_label, schema_editor, from_state, to_state) -> None:
        old_model = from_state.apps.get_model(app_label, self.model_name)
        field = old_model._meta.get_field(self.name)
        what = self.what
        connection = schema_editor.connection
        target = self.target(schema_editor, old_model)
        column = target.columns[field.column]
        spec = {
            "kind": REMOVE_COLUMN,
            "column": field.column,
            "down": self.down,
            "aside": naming.aside_column(field.column, set(target.plan.physical.values())),
            "fill_default": None,
        }
        refuse_undroppable(what, connection, target, field.column)
        if self.down:
            refuse_writing_generated(what, target, field.column)
            self.check_expressions(app_label, connection, target, from_state, to_state)
        elif (
            column.not_null and column.default is None and not (column.identity or column.generated)
        ):
            default = _per_row_sql(what, schema_editor, field)
            if default is None:
                problem = _callable_problem(schema_editor, field) or "has no default"
                raise InvalidOperation(
                    f"{what}: the column is NOT NULL and {problem}, so rows the new colour "
                    "inserts would break the legacy colour. Pass `down` (a SQL expression over "
                    "the remaining columns) or give the field a default first."
                )
            spec["fill_default"] = default
        self.run(app_label, schema_editor, target, spec)

    def check_expressions(self, app_label, connection, target, from_state, to_state) -> None:
        """``down`` over the table without the column, cast to the column's type."""
        if not self.down:
            return
        column = self.field_in(app_label, from_state).column
        scope = [pair for pair in target.scope() if pair[0] != column]
        type_sql = target.columns[column].type
        lifecycle.check_expression(connection, target, self.down, scope, type_sql, self.what)
