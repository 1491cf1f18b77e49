"""Column operations: RenameCompatColumn and AddCompatColumn."""

from __future__ import annotations

from django.db import models
from django.db.migrations.operations import AddField, RenameField
from django.db.models import NOT_PROVIDED

from .. import lifecycle, naming
from ..errors import InvalidOperation
from ..mapping import ADD_COLUMN, RENAME_COLUMN
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

    @property
    def migration_name_fragment(self) -> str:
        return self.plain().migration_name_fragment

    def expand(self, app_label, schema_editor, from_state, to_state) -> None:
        old_model = from_state.apps.get_model(app_label, self.model_name)
        new_model = to_state.apps.get_model(app_label, self.model_name)
        old_column = old_model._meta.get_field(self.old_name).column
        new_column = new_model._meta.get_field(self.new_name).column
        if old_column == new_column:
            return  # a db_column kept the name: only Django's state changes
        naming.check_identifier(new_column, "column")
        lifecycle.target(schema_editor.connection, old_model._meta.db_table)
        spec = {"kind": RENAME_COLUMN, "old": old_column, "new": new_column}
        self.run(app_label, schema_editor, old_model._meta.db_table, spec)


class AddCompatColumn(CompatOperation):
    """Add a column the legacy colour cannot see.

    Rows the legacy colour inserts get ``up`` (a SQL expression over the legacy
    column names) or else the field's default; existing rows are backfilled with
    ``up`` in batches after the migration commits.
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

    @property
    def migration_name_fragment(self) -> str:
        return self.plain().migration_name_fragment

    def _refuse_constraints(self, field: models.Field) -> None:
        if field.remote_field or field.unique or field.db_index:
            raise InvalidOperation(
                f"AddCompatColumn {self.model_name}.{self.name}: foreign keys, unique and indexed "
                "columns are not supported yet. Add the column without them, then add the index "
                "or constraint in a later release."
            )

    def _default_sql(self, schema_editor, field: models.Field) -> tuple[str | None, bool]:
        """The column default kept while the legacy colour inserts, and whether it is a
        db_default (which stays after complete)."""
        db_default = getattr(field, "db_default", NOT_PROVIDED)
        if db_default is not NOT_PROVIDED:
            sql, params = schema_editor.db_default_sql(field)
            return schema_editor.connection.ops.compose_sql(sql, params), True
        if not field.has_default():
            return None, False
        value = schema_editor.effective_default(field)
        return (None if value is None else schema_editor.quote_value(value)), False

    def expand(self, app_label, schema_editor, from_state, to_state) -> None:
        old_model = from_state.apps.get_model(app_label, self.model_name)
        field = to_state.apps.get_model(app_label, self.model_name)._meta.get_field(self.name)
        what = f"AddCompatColumn({self.model_name!r}, {self.name!r})"
        table = naming.check_identifier(old_model._meta.db_table, "table")
        column = naming.check_identifier(field.column, "column")
        self._refuse_constraints(field)
        connection = schema_editor.connection
        type_sql = field.db_type(connection)
        if type_sql is None:
            raise InvalidOperation(f"{what}: the field has no database column.")
        default, is_db_default = self._default_sql(schema_editor, field)
        if not field.null and default is None and not self.up:
            raise InvalidOperation(
                f"{what}: the column is NOT NULL but has neither `up` nor a default, so rows the "
                "legacy colour inserts could not be stored. Give the field a default, pass "
                "`up` (a SQL expression over the legacy columns), or make it null=True."
            )
        target = lifecycle.target(connection, table)
        if column in target.shape.physical:
            raise InvalidOperation(f"{what}: table {table!r} already has a column {column!r}.")
        if self.up:
            if not target.key_column:
                raise InvalidOperation(
                    f"{what}: backfilling `up` walks the table by its primary key or a unique "
                    f"NOT NULL column, and {table!r} has neither. Add one first."
                )
            lifecycle.check_expression(connection, target, self.up, type_sql, what)
        spec = {
            "kind": ADD_COLUMN,
            "column": column,
            "type": type_sql,
            "not_null": not field.null,
            "default": default,
            "db_default": is_db_default,
            "up": self.up,
        }
        self.run(app_label, schema_editor, table, spec, backfill=bool(self.up))
