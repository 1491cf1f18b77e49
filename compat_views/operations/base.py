"""What every compat operation shares: Django's operation surface around a rollout step.

A compat operation has the Django state effect of the plain operation it replaces
(``plain()``), so ``makemigrations`` sees no change. Its database effect joins the
pending rollout; going backwards undoes it, or, when its rollout has already
completed (or ``COMPAT_VIEWS_PLAIN_MIGRATIONS`` is on), does what the plain
operation's backwards would. On a table the same ``migrate`` created (``fresh``)
it is the plain operation both ways: no older release reads that table. Its ``up``
and ``down`` are checked all the same (``check_expressions``, shared with ``expand``),
so a wrong one fails a CI database as it would fail production's rollout.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable, Iterator
from typing import NamedTuple

from django.db.migrations import Migration, SeparateDatabaseAndState
from django.db.migrations.operations.base import Operation

from .. import conf, ddl, fresh, lifecycle, naming, paper
from ..errors import InvalidOperation
from . import fill_in

# The schema editor's mark: the migration whose compat operations locked their tables,
# and the positions of those that leave their table's rebuild to the next (``rebuilt_later``).
_PREPARED = "_compat_views_prepared"


def database_operations(operations: Iterable[Operation]) -> Iterator[Operation]:
    """The operations that act on the database, those inside SeparateDatabaseAndState too.

    Django runs a wrapper's ``database_operations`` (never its ``state_operations``) as if
    they stood in the migration, so whatever asks which operations a migration runs on the
    database (its origin, the tables ahead, the non-atomic refusal) must look inside.
    """
    for operation in operations:
        if isinstance(operation, SeparateDatabaseAndState):
            yield from database_operations(operation.database_operations)
        else:
            yield operation


def _applying(operation: Operation) -> tuple[Migration, int] | None:
    """The migration applying ``operation`` and the operation's index among its database
    operations (a wrapped one has its own), found on the call stack.

    Django's ``Migration.apply`` / ``unapply`` call ``database_forwards`` /
    ``database_backwards`` directly and pass no migration name; ``compat rollback``
    needs it to unrecord the migration, so we look one caller up for it.
    """
    frame = inspect.currentframe()
    try:
        while frame is not None:
            candidate = frame.f_locals.get("self")
            if isinstance(candidate, Migration):
                for position, item in enumerate(database_operations(candidate.operations)):
                    if item is operation:
                        return candidate, position
            frame = frame.f_back
    finally:
        del frame
    return None


def origin_of(operation: Operation, app_label: str) -> lifecycle.Origin:
    found = _applying(operation)
    if found is None:
        return lifecycle.Origin(app_label, "", 0)
    migration, position = found
    return lifecycle.Origin(app_label, migration.name, position)


class Ahead(NamedTuple):
    """A compat operation of the migration being applied, as the state before it has it."""

    position: int  # among the migration's database operations
    table: str  # as that state names it
    rebuilds: bool  # it reaches the database: not left out by the router, not state only


def _steps(operations: Iterable[Operation], app_label: str, state) -> Iterator[tuple]:
    """(operation, state before, state after) of each database operation, walking
    ``state`` as Django applies the migration: a SeparateDatabaseAndState's database
    operations see each other's state changes only, the operations after it its
    state operations'. The state before is cloned for compat operations only (None for
    others); the state after is ``state`` itself, moved on by the next step."""
    for operation in operations:
        if isinstance(operation, SeparateDatabaseAndState):
            yield from _steps(operation.database_operations, app_label, state.clone())
            operation.state_forwards(app_label, state)
            continue
        before = state.clone() if isinstance(operation, CompatOperation) else None
        operation.state_forwards(app_label, state)  # a compat one checks its model first
        yield operation, before, state


def operations_ahead(
    operation: CompatOperation, app_label: str, schema_editor, from_state
) -> list[Ahead]:
    """``operation`` and the later compat operations of its migration.

    Exact from an operation of the migration's own list; from one inside a
    SeparateDatabaseAndState, the operations after that wrapper are judged on the
    wrapper's database state (its state operations are out of reach here).
    """
    found = _applying(operation)
    migration, position = found or (None, 0)
    top = migration.operations if migration else [operation]
    start = next((index for index, item in enumerate(top) if item is operation), None)
    if start is not None:
        first, later = len(list(database_operations(top[:start]))), top[start:]
    else:
        first, later = position, list(database_operations(migration.operations))[position:]
    walked = enumerate(_steps(later, app_label, from_state.clone()), first)
    ahead = []
    for index, (item, before, after) in walked:
        if before is None:
            continue
        table = before.apps.get_model(app_label, item.model_name)._meta.db_table
        rebuilds = not item._skip(app_label, schema_editor, before) and item.changes_database(
            app_label, before, after
        )
        ahead.append(Ahead(index, table, rebuilds))
    return ahead


def rebuilt_later(ahead: list[Ahead]) -> frozenset[int]:
    """The positions whose operation leaves its table's legacy view and sync trigger to
    the next database operation: a compat operation on the same table that reaches the
    database, and so rebuilds them. One that does not (a rename whose db_column or
    db_table keeps the name, a model the router leaves out) rebuilds nothing, so the
    one before it must. The table decides, not the model's name: state-only operations
    between the two (SeparateDatabaseAndState) may give that name to another table."""
    rebuilding = {item.position: item.table for item in ahead if item.rebuilds}
    return frozenset(
        item.position for item in ahead if rebuilding.get(item.position + 1) == item.table
    )


def refuse_non_atomic(plan=None, **kwargs) -> None:
    """``pre_migrate`` receiver: refuse a plan with compat operations outside a transaction.

    A compat operation's DDL, views, triggers and state rows commit together (the state
    is locked with SELECT … FOR UPDATE), so a process that dies midway leaves all or
    nothing. Django runs an ``atomic = False`` migration statement by statement; checking
    the whole plan first means nothing of it has run when we say so.
    """
    if conf.plain_migrations():
        return
    found = [
        f"{migration.app_label}.{migration.name}"
        for migration, _ in plan or []
        if not migration.atomic
        and any(isinstance(op, CompatOperation) for op in database_operations(migration.operations))
    ]
    if found:
        raise _non_atomic(", ".join(found), "Nothing was changed.")


def _non_atomic(migrations: str, changed: str) -> InvalidOperation:
    return InvalidOperation(
        f"Migration(s) {migrations} hold compat operations and set atomic = False; "
        "compat operations need the migration's transaction. Move the operations that "
        "need atomic = False (AddIndexConcurrently, …) into a migration of their own and "
        f"drop atomic = False from this one. {changed}"
    )


def refuse_placeholders(plan=None, **kwargs) -> None:
    """``pre_migrate`` receiver: refuse a plan that would apply a ``FILL_IN`` placeholder.

    makemigrations leaves one where only a person can say what an expression is; one
    look at the whole plan first means nothing of it has run when we say so. A
    placeholder is refused with COMPAT_VIEWS_PLAIN_MIGRATIONS on too: the migration is
    unfinished whichever database it runs on.
    """
    lines = [
        f"{migration.app_label}.{migration.name}: {line}"
        for migration, backwards in plan or []
        if not backwards
        for operation in database_operations(migration.operations)
        for line in fill_in.gaps(operation)
    ]
    fill_in.refuse("Migration(s) of this plan", lines)


class CompatOperation(Operation):
    """Base class; subclasses define ``plain()``, ``model_name`` and ``expand()``."""

    reversible = True
    reduces_to_sql = True  # sqlmigrate shows the expand DDL (views/triggers come at migrate)
    # django-syzygy reads this: the expand phase runs before the new release is deployed.
    stage = "pre_deploy"

    model_name: str

    def plain(self) -> Operation:
        raise NotImplementedError

    def state_forwards(self, app_label, state):
        self.check_state(app_label, state)
        self.plain().state_forwards(app_label, state)

    def check_state(self, app_label, state) -> None:
        """Name unknown models and fields plainly, before anything touches the database."""
        key = (app_label, self.model_name.lower())
        if key not in state.models:
            known = sorted(name for app, name in state.models if app == app_label)
            raise InvalidOperation(
                f"{self.__class__.__name__}: app {app_label!r} has no model {self.model_name!r} "
                f"at this point of its migrations (known: {known}). Fix the model_name."
            )

    def require_field(self, app_label, state, name: str) -> None:
        fields = state.models[app_label, self.model_name.lower()].fields
        if name not in fields:
            raise InvalidOperation(
                f"{self.__class__.__name__}: model {app_label}.{self.model_name} has no field "
                f"{name!r} (fields: {sorted(fields)}). Fix the field name."
            )

    def field_in(self, app_label, state):
        """The operation's field (``name``) as the model in ``state`` has it."""
        return state.apps.get_model(app_label, self.model_name)._meta.get_field(self.name)

    @property
    def category(self):
        """How makemigrations marks it in its list (+, -, ~; Django 5.1+): as the plain one."""
        return getattr(self.plain(), "category", None)

    @property
    def migration_name_fragment(self) -> str:
        return self.plain().migration_name_fragment

    @property
    def what(self) -> str:
        """How error messages name this operation."""
        return f"{self.__class__.__name__}({self.model_name!r}, {getattr(self, 'name', '')!r})"

    def target(self, schema_editor, old_model) -> lifecycle.Target:
        """The table the operation changes, as it stands before it (nothing is written);
        for ``sqlmigrate``, as the migration's earlier operations leave it (``paper``)."""
        table = naming.check_identifier(old_model._meta.db_table, "table")
        if schema_editor.collect_sql:
            found = _applying(self)
            return paper.target(schema_editor, old_model, found and found[0])
        return lifecycle.target(schema_editor.connection, table)

    def references_model(self, name, app_label):
        return self.plain().references_model(name, app_label)

    def references_field(self, model_name, name, app_label):
        return self.plain().references_field(model_name, name, app_label)

    def reduce(self, operation, app_label):
        # Never fold a compat operation into another: that would lose the rollout step.
        return False

    def _skip(self, app_label, schema_editor, state) -> bool:
        model = state.apps.get_model(app_label, self.model_name)
        return not self.allow_migrate_model(schema_editor.connection.alias, model)

    def _on_fresh_table(self, app_label, schema_editor, state) -> bool:
        """Whether the ``migrate`` applying this operation created its table."""
        found = _applying(self)
        if found is None or schema_editor.collect_sql:
            return False
        table = state.apps.get_model(app_label, self.model_name)._meta.db_table
        return fresh.created_by_this_migrate(schema_editor.connection, found[0], table)

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        fill_in.refuse(self.what, fill_in.gaps(self))  # sqlmigrate, or outside migrate
        if self._skip(app_label, schema_editor, from_state):
            return
        if conf.plain_migrations() or self._on_fresh_table(app_label, schema_editor, from_state):
            self._check_plain(app_label, schema_editor, from_state, to_state)
            self.plain().database_forwards(app_label, schema_editor, from_state, to_state)
            return
        if not schema_editor.collect_sql:
            self._prepare_rollout(app_label, schema_editor, from_state)
        self.expand(app_label, schema_editor, from_state, to_state)

    def _prepare_rollout(self, app_label, schema_editor, from_state) -> None:
        """Check what a rollout needs, plan the rebuilds and lock the tables ahead, once a
        migration.

        The first compat operation of a migration to expand locks the tables of every
        later one (``operations_ahead``) until the migration's transaction commits, and what
        it checks (the state tables, the CREATE privilege) no DDL of ours changes: the
        later ones have nothing to lock or check again. Each round trip saved is time the
        legacy colour does not wait for the locked tables; the privilege is checked and
        the rebuilds planned (``rebuilt_later``) before any lock. The mark lives on the
        schema editor, which Django makes anew for each migration.
        """
        found = _applying(self)
        migration = found and found[0]
        prepared = getattr(schema_editor, _PREPARED, None)
        if migration is not None and prepared is not None and prepared[0] is migration:
            return
        connection = schema_editor.connection
        if not connection.in_atomic_block:  # applied by a tool that sends no pre_migrate
            name = f"{app_label}.{migration.name}" if migration else app_label
            raise _non_atomic(name, "Its compat operations did not run.")
        lifecycle.require_state_tables(connection)
        conf.require_colour(connection.settings_dict)  # the first thing a rollout asks
        lifecycle.require_create_privilege(connection)
        ahead = operations_ahead(self, app_label, schema_editor, from_state)
        lifecycle.lock_ahead(schema_editor, [item.table for item in ahead])
        setattr(schema_editor, _PREPARED, (migration, rebuilt_later(ahead)))

    def _rebuilt_later(self, schema_editor) -> bool:
        """Whether the next database operation of the migration rebuilds the table's
        legacy view and sync trigger (``rebuilt_later``).

        Between the two nothing but our own DDL runs, under the migration's lock: no
        statement reads the view or writes a row the trigger would sync, so only the
        last of a run of operations on a table need rebuild them. The next one takes
        the same path as this one (same table, same router answer).
        """
        found = _applying(self)
        prepared = getattr(schema_editor, _PREPARED, None)
        return (
            found is not None
            and prepared is not None
            and prepared[0] is found[0]
            and found[1] in prepared[1]
        )

    def changes_database(self, app_label, from_state, to_state) -> bool:
        """Whether expanding the operation changes the database, not only Django's state."""
        return True

    def _check_plain(self, app_label, schema_editor, from_state, to_state) -> None:
        """Check the expressions of an operation about to run plain, as a rollout would.

        A plain run evaluates neither ``up`` nor ``down``, but the same migration opens a
        rollout on a database whose table an older release serves: checking them here
        makes a test or CI database, where the table is fresh, fail as that ``migrate``
        would, inside the migration's transaction, before the plain operation's DDL and
        writing nothing. Not on ``sqlmigrate``'s paper, which follows compat steps only
        (``paper``), not plain operations.
        """
        has_expressions = any(getattr(self, name, None) is not None for name in fill_in.EXPRESSIONS)
        if schema_editor.collect_sql or not has_expressions:
            return
        connection = schema_editor.connection
        table = from_state.apps.get_model(app_label, self.model_name)._meta.db_table
        target = lifecycle.target(connection, table, viewed=False)
        self.check_expressions(app_label, connection, target, from_state, to_state)

    def check_expressions(
        self, app_label, connection, target: lifecycle.Target, from_state, to_state
    ) -> None:
        """Check ``up`` / ``down`` against ``target``, the table before this operation
        (``lifecycle.check_expression``), the same way for a rollout and a plain run."""

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if self._skip(app_label, schema_editor, to_state):
            return
        found = (None, None)
        # Without the state tables no rollout can hold the operation: it ran plain.
        connection = schema_editor.connection
        if (
            not conf.plain_migrations()
            and not schema_editor.collect_sql
            and lifecycle.STATE_TABLE in connection.introspection.table_names()
        ):
            found = lifecycle.find(connection.alias, origin_of(self, app_label))
        rollout, applied = found
        if applied is None:
            self.plain().database_backwards(app_label, schema_editor, from_state, to_state)
        else:
            lifecycle.undo(schema_editor, rollout, applied)

    def expand(self, app_label, schema_editor, from_state, to_state) -> None:
        raise NotImplementedError

    def run(
        self,
        app_label,
        schema_editor,
        target: lifecycle.Target,
        spec: dict,
        *,
        backfill: bool = False,
    ):
        """Start or join the rollout and apply ``spec`` (after the subclass validated it)."""
        if target.generated:  # out of reach of this operation's expressions (mapping)
            spec = {**spec, "generated": list(target.generated)}
        if schema_editor.collect_sql:
            for statement in ddl.expand(target.schema, target.table, spec):
                schema_editor.execute(statement, params=None)
            paper.apply(schema_editor, target, spec)
            schema_editor.execute(
                "-- compat_views: legacy view and sync trigger are regenerated at migrate time",
                params=None,
            )
            return
        origin, later = origin_of(self, app_label), self._rebuilt_later(schema_editor)
        lifecycle.expand(schema_editor, target, origin, spec, backfill, rebuild_now=not later)
