"""Model operations: rename and remove a model's table during a rollout."""

from __future__ import annotations

from django.db.migrations.operations import DeleteModel, RenameModel

from .. import catalog, constraints, naming
from ..errors import InvalidOperation
from ..mapping import REMOVE_TABLE, RENAME_TABLE
from .base import CompatOperation


def _auto_through_tables(model) -> list[str]:
    """Tables Django made for the model's own many-to-many fields."""
    return [
        field.remote_field.through._meta.db_table
        for field in model._meta.local_many_to_many
        if field.remote_field.through._meta.auto_created
    ]


class RenameCompatModel(CompatOperation):
    """Rename a model's table; the legacy colour keeps the old name through its view.

    Metadata only, like a column rename: the table is renamed in place and the legacy
    view, named as the old table, selects from it. Other tables' foreign keys follow
    the table; at ``complete`` they get the names a plain ``RenameModel`` gives them.
    """

    def __init__(self, old_name: str, new_name: str) -> None:
        self.old_name = old_name
        self.new_name = new_name

    @property
    def model_name(self) -> str:
        return self.old_name

    def deconstruct(self):
        return self.__class__.__name__, [], {"old_name": self.old_name, "new_name": self.new_name}

    def plain(self) -> RenameModel:
        return RenameModel(self.old_name, self.new_name)

    @property
    def what(self) -> str:
        return f"{self.__class__.__name__}({self.old_name!r}, {self.new_name!r})"

    def describe(self) -> str:
        return (
            f"Rename model {self.old_name} to {self.new_name}, keeping the old table name "
            "for the legacy colour"
        )

    def _tables(self, app_label, from_state, to_state) -> tuple[str, str]:
        old_model = from_state.apps.get_model(app_label, self.old_name)
        new_model = to_state.apps.get_model(app_label, self.new_name)
        return old_model._meta.db_table, new_model._meta.db_table

    def changes_database(self, app_label, from_state, to_state) -> bool:
        """A db_table that keeps the name leaves only Django's state to change."""
        old_table, new_table = self._tables(app_label, from_state, to_state)
        return old_table != new_table

    def expand(self, app_label, schema_editor, from_state, to_state) -> None:
        old_model = from_state.apps.get_model(app_label, self.old_name)
        old_table, new_table = self._tables(app_label, from_state, to_state)
        many = _auto_through_tables(old_model) + [
            relation.through._meta.db_table
            for relation in old_model._meta.related_objects
            if relation.many_to_many and relation.through._meta.auto_created
        ]
        if many:
            raise InvalidOperation(
                f"{self.what}: Django names the many-to-many tables {sorted(many)} after this "
                "model and would rename them too, which compat_views does not do yet. Rename "
                "the model in a plain migration; nothing was changed."
            )
        if not self.changes_database(app_label, from_state, to_state):
            return
        naming.check_identifier(new_table, "table")
        target = self.target(schema_editor, old_model)
        # A table sqlmigrate describes from the migration state is not the database's,
        # where new_table may be this migration's own doing (applied already).
        taken = target.stored_table and catalog.relation_exists(
            schema_editor.connection, target.schema, new_table
        )
        if taken:
            raise InvalidOperation(
                f"{self.what}: a table or view {target.schema}.{new_table} already exists. "
                "Nothing was changed."
            )
        spec = {
            "kind": RENAME_TABLE,
            "old": old_table,
            "new": new_table,
            "foreign_keys": self._foreign_key_names(app_label, schema_editor, from_state, to_state),
        }
        self.run(app_label, schema_editor, target, spec)

    def _foreign_key_names(self, app_label, schema_editor, from_state, to_state) -> list[list[str]]:
        """[table, name now, name after a plain RenameModel] of each foreign key to the model.

        A plain RenameModel drops and re-adds them, which validates every row under a
        lock; their names include the referenced table's, so only the names change.
        """
        with schema_editor.connection.schema_editor(collect_sql=True, atomic=False) as editor:
            self.plain().database_forwards(app_label, editor, from_state, to_state)
        return constraints.renamed_foreign_keys(editor.collected_sql)


class RemoveCompatModel(CompatOperation):
    """Stop using a model; its table stays, unchanged, for the legacy colour.

    ``complete`` drops it (and the many-to-many tables Django made for it) as a plain
    ``DeleteModel`` would; ``rollback`` has nothing to restore.
    """

    def __init__(self, name: str) -> None:
        self.name = name

    @property
    def model_name(self) -> str:
        return self.name

    def deconstruct(self):
        return self.__class__.__name__, [], {"name": self.name}

    def plain(self) -> DeleteModel:
        return DeleteModel(self.name)

    @property
    def what(self) -> str:
        return f"{self.__class__.__name__}({self.name!r})"

    def describe(self) -> str:
        return f"Remove model {self.name}, kept for the legacy colour until complete"

    def expand(self, app_label, schema_editor, from_state, to_state) -> None:
        model = from_state.apps.get_model(app_label, self.name)
        target = self.target(schema_editor, model)
        spec = {
            "kind": REMOVE_TABLE,
            "table": model._meta.db_table,
            "through": _auto_through_tables(model),
        }
        self.run(app_label, schema_editor, target, spec)
