"""makemigrations writes compat operations: the plain operations Django detected, rewritten.

``CompatAutodetectorMixin`` goes in front of whichever autodetector makemigrations
would use (Django's, or the subclass django-pgtrigger or django-syzygy puts there) and,
once Django has detected, sorted and optimized the changes, replaces each operation that
would break the release still serving by its compat twin: RenameField →
RenameCompatColumn, RemoveField → RemoveCompatColumn, a column-changing AlterField →
AlterCompatColumn, a NOT NULL AddField the legacy colour could not insert without →
AddCompatColumn, RenameModel → RenameCompatModel, DeleteModel → RemoveCompatModel.
Everything else (a nullable field, a field with a db_default, a new model, an AlterField
that changes no column) stays plain, and so does what a compat operation would refuse at
migrate (a primary key, a column foreign keys point at, an added generated field, a model
a many-to-many table is named after): ``compat check`` says what to do about those.

``Rewriter`` does the replacing over the operations and the project state before them,
with no database, so it is tested on two ProjectStates. Where an expression has a form
that loses nothing (a widening cast, a constant default) it is written in; otherwise the
questioner is asked (interactive makemigrations), and an empty answer, or a run that
cannot ask, leaves a ``FILL_IN`` placeholder that ``migrate`` refuses until it is filled.
``CompatCommandMixin`` puts the mixin in front of the autodetector a makemigrations
command would use at call time, so other apps' autodetectors keep working underneath.
"""

from __future__ import annotations

import functools
import os
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from importlib import import_module
from itertools import groupby
from types import ModuleType

import psycopg
from django.apps import apps
from django.core.exceptions import ValidationError
from django.core.management import find_commands
from django.core.management.base import BaseCommand
from django.core.management.commands import makemigrations
from django.db import DEFAULT_DB_ALIAS, connections, models
from django.db.migrations import Migration, SeparateDatabaseAndState
from django.db.migrations.operations import (
    AddField,
    AlterField,
    CreateModel,
    DeleteModel,
    RemoveField,
    RenameField,
    RenameModel,
)
from django.db.migrations.operations.base import Operation
from django.db.migrations.questioner import InteractiveMigrationQuestioner
from django.db.migrations.state import ProjectState
from django.db.migrations.utils import get_references
from django.db.models import NOT_PROVIDED

from . import conf
from .operations import (
    FILL_IN,
    AddCompatColumn,
    AlterCompatColumn,
    RemoveCompatColumn,
    RemoveCompatModel,
    RenameCompatColumn,
    RenameCompatModel,
)
from .operations.base import CompatOperation
from .operations.columns import constant_default, default_serves_rows
from .sql import ident, literal

APP = "compat_views"
# PostgreSQL's key words that are reserved or may not name a function or type (its
# documentation's appendix C): a column of one of these names is quoted in an expression;
# any other lower-case name reads as it is.
_RESERVED = frozenset(
    "all analyse analyze and any array as asc asymmetric authorization binary both case cast "
    "check collate collation column concurrently constraint create cross current_catalog "
    "current_date current_role current_schema current_time current_timestamp current_user "
    "default deferrable desc distinct do else end except false fetch for foreign freeze from "
    "full grant group having ilike in initially inner intersect into is isnull join lateral "
    "leading left like limit localtime localtimestamp natural not notnull null offset on only "
    "or order outer overlaps placing primary references returning right select session_user "
    "similar some symmetric system_user table tablesample then to trailing true union unique "
    "user using variadic verbose when where window with "
    "between bigint bit boolean char character coalesce dec decimal exists extract float "
    "greatest grouping inout int integer interval json json_array json_arrayagg json_exists "
    "json_object json_objectagg json_query json_scalar json_serialize json_table json_value "
    "least merge_action national nchar none normalize nullif numeric out overlay position "
    "precision real row setof smallint substring time timestamp treat trim values varchar "
    "xmlattributes xmlconcat xmlelement xmlexists xmlforest xmlnamespaces xmlparse xmlpi "
    "xmlroot xmlserialize xmltable".split()
)
_PLAIN_NAME = re.compile(r"[a-z_][a-z0-9_]*")
_INTEGERS = {"smallint": 0, "integer": 1, "bigint": 2}
_VARCHAR = re.compile(r"varchar\((\d+)\)")


def type_connection():
    """The connection whose backend says which column type a field has.

    makemigrations needs no database (Django's own runs with the dummy backend), so when
    the default alias is not PostgreSQL a PostgreSQL wrapper that never connects answers.
    """
    connection = connections[DEFAULT_DB_ALIAS]
    if connection.vendor == "postgresql":
        return connection
    from django.db.backends.postgresql.base import DatabaseWrapper

    return _disconnected(DatabaseWrapper)


@functools.cache
def _disconnected(wrapper):
    return wrapper({"ENGINE": "django.db.backends.postgresql", "NAME": ""}, alias=APP)


def sql_name(column: str) -> str:
    """A column name as an expression spells it: bare when it reads as itself."""
    plain = _PLAIN_NAME.fullmatch(column) and column not in _RESERVED
    return column if plain else ident(column)


@dataclass(frozen=True)
class Column:
    """What PostgreSQL stores of a field: what a release still serving would notice."""

    name: str
    type: str | None
    check: str | None
    null: bool
    collation: str | None


def _bound(name: str, field: models.Field) -> models.Field:
    """A copy of a state's field that knows its column name (state fields are unbound)."""
    field = field.clone()
    field.set_attributes_from_name(name)
    return field


def column_of(name: str, field: models.Field, apps_in_order, connection) -> Column:
    """The column of a field; a foreign key's type is its target's, looked up in the first
    of ``apps_in_order`` (callables giving an app registry) that has the target."""
    field = _bound(name, field)
    if field.is_relation and field.concrete:
        type_sql, check = _target(field, apps_in_order).rel_db_type(connection), None
    else:
        params = field.db_parameters(connection)
        type_sql, check = params["type"], params["check"]
    return Column(field.column, type_sql, check, field.null, getattr(field, "db_collation", None))


def _target(field: models.Field, apps_in_order) -> models.Field:
    model = field.remote_field.model
    label = model if isinstance(model, str) else model._meta.label_lower
    for registry in apps_in_order:
        try:
            target = registry().get_model(label)
        except LookupError:
            continue
        name = getattr(field.remote_field, "field_name", None)
        return target._meta.get_field(name) if name else target._meta.pk
    raise LookupError(f"makemigrations: no model {label!r} for {field.name!r} to point at")


def _length(type_sql: str | None) -> float | None:
    """How many characters a text type holds (``text``: any number), else None."""
    if type_sql == "text":
        return float("inf")
    match = _VARCHAR.fullmatch(type_sql or "")
    return int(match.group(1)) if match else None


def widens(old: str | None, new: str | None) -> bool:
    """Whether every value of type ``old`` is a value of type ``new``, unchanged."""
    if old == new:
        return True
    if old in _INTEGERS and new in _INTEGERS:
        return _INTEGERS[old] < _INTEGERS[new]
    old_length, new_length = _length(old), _length(new)
    return old_length is not None and new_length is not None and new_length >= old_length


def converted(
    source: Column, target: Column, default: str | None, *, to_legacy: bool
) -> tuple[str | None, str]:
    """SQL giving ``target`` its value from ``source``, when one is safe, and in any case a
    suggestion for a person to start from.

    Safe: a widening cast; NULL, where ``target`` takes none, becomes ``default``. For the
    legacy colour's column (``to_legacy``) a narrower integer is the value itself (one that
    does not fit fails that write, naming the column, which is all a narrower column can
    do) and a shorter text is cut: the new column keeps the whole value. The new column
    gets nothing lossy written in: what it holds outlives the rollout.
    """
    name = sql_name(source.name)
    written = suggestion = name
    if not widens(source.type, target.type):
        texts = _length(source.type) is not None and _length(target.type) is not None
        integers = source.type in _INTEGERS and target.type in _INTEGERS
        if texts:
            suggestion = f"left({name}, {int(_length(target.type))})"
        elif not integers:
            suggestion = f"{name}::{target.type}"
        written = suggestion if to_legacy and (texts or integers) else None
    if target.check and not source.check:  # every value must pass a CHECK it never had
        written = None
    if source.null and not target.null:
        written = f"COALESCE({written}, {default})" if written and default else None
        suggestion = f"COALESCE({suggestion}, {default or '<value>'})"
    return written, suggestion


def sql_literal(field: models.Field, value: object, connection) -> str | None:
    """``value`` of ``field`` as a SQL literal, or None when it has none (a callable)."""
    if value is None or value is NOT_PROVIDED or callable(value):
        return None
    try:
        return literal(field.get_db_prep_save(value, connection))
    except (TypeError, ValueError, ValidationError, psycopg.Error):
        return None


def _has_db_default(field: models.Field) -> bool:
    return getattr(field, "db_default", NOT_PROVIDED) is not NOT_PROVIDED  # Django 5.0+


def _generated(field: models.Field) -> bool:
    return getattr(field, "generated", False)  # a GeneratedField, Django 5.0+


def default_literal(
    field: models.Field, connection, target: models.Field | None = None
) -> str | None:
    """The SQL literal of what a row inserted without the column would get from Django;
    ``target`` is the field its value is stored as (a foreign key's target), if not itself.

    Django 5.0 wraps a constant ``db_default`` in ``Value``; 5.1+ keeps it as given.
    """
    stored_as = target or field
    db_default = getattr(field, "db_default", NOT_PROVIDED)
    if isinstance(db_default, models.Value):
        return sql_literal(stored_as, db_default.value, connection)
    if _has_db_default(field) and not hasattr(db_default, "resolve_expression"):
        return sql_literal(stored_as, db_default, connection)
    if field.has_default():
        return sql_literal(stored_as, constant_default(field), connection)
    if field.blank and field.empty_strings_allowed:  # Django stores "" then
        return sql_literal(stored_as, "", connection)
    return None


@dataclass(frozen=True)
class Question:
    """One expression makemigrations could not write: what it is for, over which names."""

    what: str  # the operation, as its messages name it
    argument: str  # "up" or "down"
    columns: tuple[str, ...]  # the names the expression may read
    type: str | None  # the type of its value
    target: str  # the column it gives a value to
    suggestion: str

    @property
    def hint(self) -> str:
        if self.argument == "up":
            when = "before"
            purpose = (
                f"the new {self.target} for rows the legacy colour writes and for existing rows"
            )
        else:
            when = "after"
            purpose = f"the legacy colour's {self.target} for rows the new release writes"
        return (
            f"SQL over the columns {when} this operation ({', '.join(self.columns)}) giving "
            f"{purpose} ({self.type}), such as {self.suggestion}."
        )


def ask(questioner, question: Question) -> str | None:
    """The questioner's answer, or None for a placeholder.

    A questioner with ``ask_compat_expression(question)`` answers itself; Django's
    interactive one (``makemigrations`` without ``--noinput``) prompts, as it does for a
    one-off default, and a closed stdin answers nothing; any other cannot ask.
    """
    custom = getattr(questioner, "ask_compat_expression", None)
    if custom is not None:
        return custom(question) or None
    if not isinstance(questioner, InteractiveMigrationQuestioner) or questioner.dry_run:
        return None
    questioner.prompt_output.write(
        f"{question.what} needs `{question.argument}`: {question.hint}\n"
        "Enter that SQL expression, or nothing to leave a placeholder to fill in before "
        "migrate."
    )
    questioner.prompt_output.write(">>> ", ending="")
    try:
        return input().strip() or None
    except EOFError:  # stdin closed (a script, CI): no answer, as an empty one
        questioner.prompt_output.write("")
        return None


def _model_of(operation: Operation) -> str:
    """The lower-case name of the model an operation works on ("" for none)."""
    for attribute in ("model_name_lower", "old_name_lower", "name_lower"):
        if hasattr(operation, attribute):
            return getattr(operation, attribute)
    return ""


def _example(type_sql: str | None) -> str:
    """A constant of the type, to start an answer from."""
    if type_sql in _INTEGERS or (type_sql or "").startswith(("numeric", "double", "real")):
        return "0"
    if _length(type_sql) is not None:
        return "''"
    return "false" if type_sql == "boolean" else f"a constant {type_sql} value"


def _columns(state: ProjectState, app_label: str, model_name: str) -> tuple[str, ...]:
    fields = state.models[app_label, model_name.lower()].fields.items()
    bound = [_bound(name, field) for name, field in fields]
    return tuple(field.column for field in bound if field.concrete)


class Rewriter:
    """Replace the plain operations of one change set by compat ones, in order.

    ``state`` is the project state before the change set; it moves forward with each
    operation. ``apps_in_order`` gives the app registries a foreign key's target type is
    looked up in (the autodetector's states after and before); ``answer`` asks for an
    expression it cannot write.
    """

    def __init__(
        self,
        state: ProjectState,
        answer: Callable[[Question], str | None],
        apps_in_order=(),
        connection=None,
        warn: Callable[[str], None] = lambda message: None,
    ) -> None:
        self.state = state
        self.answer = answer
        self.warn = warn
        self.apps_in_order = apps_in_order
        self.connection = connection or type_connection()
        self.created: set[tuple[str, str]] = set()

    def migrations(self, app_label: str, migrations: list[Migration]) -> None:
        """Rewrite an app's new migrations in place, in their order."""
        for migration in migrations:
            migration.operations = self._adds_first(app_label, migration.operations)
        operations = [op for migration in migrations for op in migration.operations]
        position = 0
        for migration in migrations:
            rewritten = []
            for operation in migration.operations:
                position += 1
                rewritten.append(self.operation(app_label, operation, operations[position:]))
            migration.operations = rewritten

    def _adds_first(self, app_label: str, operations: list[Operation]) -> list[Operation]:
        """Django removes fields before it adds them. During a rollout a removed column
        lives on until complete, so adding first lets an added column's ``up`` read the
        removed one and the removed column's ``down`` read the added one: a field replaced
        by one of another name and type (a rename Django could not see) keeps its values.
        A run of additions and removals whose columns collide keeps Django's order."""
        result = []
        for changes_fields, run in groupby(
            operations, lambda op: isinstance(op, (AddField, RemoveField))
        ):
            run = list(run)
            if changes_fields and not self._collide(app_label, run):
                run.sort(key=lambda op: isinstance(op, RemoveField))  # stable: adds first
            result.extend(run)
        return result

    def _collide(self, app_label: str, run: list[Operation]) -> bool:
        """Whether an added column takes a removed one's name (or a removed field is not
        where the state says), so that adding first would fail."""
        added = {_bound(op.name, op.field).column for op in run if isinstance(op, AddField)}
        for op in run:
            if isinstance(op, RemoveField):
                model_state = self.state.models.get((app_label, op.model_name_lower))
                field = model_state.fields.get(op.name) if model_state else None
                if field is None or _bound(op.name, field).column in added:
                    return True
        return False

    def operation(self, app_label: str, operation: Operation, later: list[Operation]):
        """The operation to write instead of ``operation``, moving the state past it."""
        key = (app_label, _model_of(operation))
        if isinstance(operation, CreateModel):
            self.created.add(key)
        method = _REWRITES.get(type(operation))
        if any(isinstance(op, DeleteModel) and op.name_lower == key[1] for op in later):
            # The table stays as it is for the legacy colour until RemoveCompatModel's
            # complete drops it: only Django's state changes now.
            result = SeparateDatabaseAndState(state_operations=[operation])
        elif method is None or key in self.created or self._unmanaged_or_proxy(key):
            result = operation
        else:
            result = method(self, app_label, operation)
        operation.state_forwards(app_label, self.state)
        return result

    def _unmanaged_or_proxy(self, key) -> bool:
        model_state = self.state.models.get(key)
        options = model_state.options if model_state else {}
        return not options.get("managed", True) or bool(options.get("proxy"))

    def _field(self, app_label: str, model_name: str, name: str) -> models.Field:
        return self.state.models[app_label, model_name.lower()].fields[name]

    def _referenced(self, app_label: str, model_name: str, name: str) -> bool:
        """Whether a foreign key (``to_field``) of some model points at this field."""
        field = (name, self._field(app_label, model_name, name))
        references = get_references(self.state, (app_label, model_name.lower()), field)
        return any(
            reference.to and getattr(other, "db_constraint", False)
            for _, _, other, reference in references
        )

    def _stored_as(self, field: models.Field, apps_in_order) -> models.Field | None:
        """The field a foreign key's values are stored as (its target); None for others,
        which store their own (a state's foreign key cannot prepare a value itself)."""
        relation = field.is_relation and not field.many_to_many
        return _target(field, apps_in_order) if relation else None

    def _new_default(self, field: models.Field, preserve_default: bool) -> str | None:
        """What a row gets that has no value yet: the one-off default Django asked for
        (``preserve_default=False``), or the field's own."""
        target = self._stored_as(field, self.apps_in_order)
        if preserve_default:
            return default_literal(field, self.connection, target)
        return sql_literal(target or field, field.default, self.connection)

    def _old_default(self, field: models.Field) -> str | None:
        """What a row the legacy colour inserts without the column gets."""
        target = self._stored_as(field, self.apps_in_order[::-1])
        return default_literal(field, self.connection, target)

    def _expression(self, question: Question, written: str | None) -> str:
        if written is not None:
            return written
        return self.answer(question) or FILL_IN(question.hint)

    def rename_field(self, app_label: str, operation: RenameField):
        if self._field(app_label, operation.model_name, operation.old_name).many_to_many:
            return operation
        return RenameCompatColumn(operation.model_name, operation.old_name, operation.new_name)

    def remove_field(self, app_label: str, operation: RemoveField):
        field = self._field(app_label, operation.model_name, operation.name)
        if field.many_to_many:
            return operation
        if field.null or _has_db_default(field) or _generated(field) or default_serves_rows(field):
            # PostgreSQL gives the column its value (a generated one: always; it takes none)
            return RemoveCompatColumn(operation.model_name, operation.name)
        old = column_of(operation.name, field, self.apps_in_order, self.connection)
        remaining = _columns(self.state, app_label, operation.model_name)
        question = Question(
            RemoveCompatColumn(operation.model_name, operation.name).what,
            "down",
            tuple(name for name in remaining if name != old.name),
            old.type,
            old.name,
            self._old_default(field) or _example(old.type),
        )
        down = self._expression(question, None)
        return RemoveCompatColumn(operation.model_name, operation.name, down=down)

    def add_field(self, app_label: str, operation: AddField):
        field = operation.field
        preserved = operation.preserve_default
        if field.many_to_many or field.null or _has_db_default(field) or _generated(field):
            return operation  # AddCompatColumn refuses a generated one: no rollout rewrites
        if preserved and default_serves_rows(field):
            return AddCompatColumn(operation.model_name, operation.name, field)
        new = column_of(operation.name, field, self.apps_in_order, self.connection)
        written = self._new_default(field, preserved)
        field = _without_one_off(field, preserved)
        question = Question(
            AddCompatColumn(operation.model_name, operation.name, field).what,
            "up",
            _columns(self.state, app_label, operation.model_name),
            new.type,
            new.name,
            _example(new.type),
        )
        up = self._expression(question, written)
        return AddCompatColumn(operation.model_name, operation.name, field, up=up)

    def alter_field(self, app_label: str, operation: AlterField):
        old_field = self._field(app_label, operation.model_name, operation.name)
        new_field = operation.field
        if old_field.many_to_many or old_field.primary_key or new_field.primary_key:
            return operation  # compat operations change no primary key; Django's way stays
        if self._referenced(app_label, operation.model_name, operation.name):
            return operation  # AlterCompatColumn refuses it: foreign keys would detach
        old = column_of(operation.name, old_field, self.apps_in_order[::-1], self.connection)
        new = column_of(operation.name, new_field, self.apps_in_order, self.connection)
        # The legacy colour's INSERTs leave a column with a db_default out: dropping the
        # default would give its rows NULL, so the legacy view keeps it until complete.
        drops_default = _has_db_default(old_field) and not _has_db_default(new_field)
        if old == new and not drops_default:
            return operation
        before = _columns(self.state, app_label, operation.model_name)
        after = tuple(new.name if name == old.name else name for name in before)
        field = _without_one_off(new_field, operation.preserve_default)
        what = AlterCompatColumn(operation.model_name, operation.name, field, "", "").what
        new_default = self._new_default(new_field, operation.preserve_default)
        old_default = self._old_default(old_field)
        up, up_hint = converted(old, new, new_default, to_legacy=False)
        down, down_hint = converted(new, old, old_default, to_legacy=True)
        up = self._expression(Question(what, "up", before, new.type, new.name, up_hint), up)
        down = self._expression(Question(what, "down", after, old.type, old.name, down_hint), down)
        return AlterCompatColumn(operation.model_name, operation.name, field, up, down)

    def rename_model(self, app_label: str, operation: RenameModel):
        if self._many_to_many_named_after(app_label, operation.old_name_lower):
            return operation  # RenameCompatModel refuses it: Django renames those tables too
        return RenameCompatModel(operation.old_name, operation.new_name)

    def _many_to_many_named_after(self, app_label: str, model_name: str) -> bool:
        """Whether a many-to-many table Django made (no ``through``) is named after the
        model, or has a column that is: one of its own fields, or one pointing at it."""
        own = self.state.models[app_label, model_name].fields.values()
        pointing = (field for *_, field, _ in get_references(self.state, (app_label, model_name)))
        return any(
            field.many_to_many and field.remote_field.through is None for field in (*own, *pointing)
        )

    def delete_model(self, app_label: str, operation: DeleteModel):
        created = sorted(name for app, name in self.created if app == app_label)
        if created:
            # Django asks about a model rename only when no field changed: a model renamed
            # and changed at once comes as CreateModel + DeleteModel, and complete would drop
            # the old table with its rows while the new one starts empty.
            self.warn(
                f"{app_label}.{operation.name} is removed and {', '.join(created)} created in "
                "the same migration: if that is a rename, its rows will not move. Delete this "
                "migration, rename the model alone and run makemigrations, then change its "
                "fields and run makemigrations again."
            )
        return RemoveCompatModel(operation.name)


_REWRITES = {
    RenameField: Rewriter.rename_field,
    RemoveField: Rewriter.remove_field,
    AddField: Rewriter.add_field,
    AlterField: Rewriter.alter_field,
    RenameModel: Rewriter.rename_model,
    DeleteModel: Rewriter.delete_model,
}


def _without_one_off(field: models.Field, preserve_default: bool) -> models.Field:
    """The field as Django's state keeps it: a one-off default (preserve_default=False)
    served the existing rows only, and goes into ``up`` instead."""
    if preserve_default:
        return field
    field = field.clone()
    field.default = NOT_PROVIDED
    return field


def _warn(questioner, message: str) -> None:
    """Print ``message`` where the questioner talks to the user: its prompts when
    interactive, its log (makemigrations' stdout) when not."""
    output = getattr(questioner, "prompt_output", None)
    if output is not None:
        output.write(f"Warning: {message}")
    elif getattr(questioner, "log", None) is not None:
        questioner.log(f"Warning: {message}")


def compat_leaf(graph) -> tuple[str, str]:
    """What a migration with compat operations depends on: compat_views' latest migration
    (its rollout state tables), as the graph makemigrations loaded knows it."""
    nodes = graph.leaf_nodes(APP) if graph is not None else []
    return nodes[0] if nodes else (APP, "__first__")


class CompatAutodetectorMixin:
    """In front of a MigrationAutodetector: its changes, with compat operations where the
    release still serving would break."""

    def only_relation_agnostic_fields(self, fields):
        """The field definitions Django compares to ask whether a model was renamed, in an
        order of their own. Django keeps them in the order of the field names, so a model
        renamed together with one of its fields (``Author.name`` -> ``Writer.full_name``)
        never looked renamed: the rename became CreateModel + RemoveCompatModel, and
        complete dropped the old table with its rows."""
        return sorted(super().only_relation_agnostic_fields(fields), key=repr)

    def _detect_changes(self, convert_apps=None, graph=None):
        # Django edits from_state's model options while it detects (unique_together of a
        # deleted model): keep the state before, unrendered, to walk forward.
        before = ProjectState(
            models={key: model.clone() for key, model in self.from_state.models.items()},
            real_apps=self.from_state.real_apps,
        )
        changes = super()._detect_changes(convert_apps, graph)
        rewriter = Rewriter(
            before,
            functools.partial(ask, self.questioner),
            (lambda: self.to_state.apps, lambda: self.from_state.apps),
            warn=functools.partial(_warn, self.questioner),
        )
        for app_label in sorted(set(changes) - {APP}):
            rewriter.migrations(app_label, changes[app_label])
            for migration in changes[app_label]:
                compat = any(isinstance(op, CompatOperation) for op in migration.operations)
                if compat and all(dependency[0] != APP for dependency in migration.dependencies):
                    migration.dependencies.append(compat_leaf(graph))
        return changes


@functools.cache
def compat_autodetector(base: type) -> type:
    """``base`` with CompatAutodetectorMixin in front (once, whatever asks how often)."""
    if issubclass(base, CompatAutodetectorMixin):
        return base
    return type(f"Compat{base.__name__}", (CompatAutodetectorMixin, base), {})


def _django_module(command) -> ModuleType:
    """The module of the Django command a command derives from (``makemigrations``, …)."""
    for klass in type(command).__mro__:
        if klass.__module__.startswith("django.core.management.commands."):
            return sys.modules[klass.__module__]
    raise TypeError(f"{type(command).__name__} derives from no Django command")


class CompatCommandMixin:
    """For a makemigrations or migrate Command: with COMPAT_VIEWS_AUTODETECTOR on, the
    autodetector it runs is ``compat_autodetector`` of the one it would run otherwise,
    read at call time, so one that another app patched in (django-pgtrigger) or sets in
    its ``handle()`` (django-syzygy) works underneath.

    Django 5.2+ reads ``Command.autodetector`` (and its system check commands.E001 wants
    migrate's to be makemigrations'). Django 4.2 reads its command module's global
    ``MigrationAutodetector`` instead, which is swapped for the length of the command.
    """

    if hasattr(makemigrations.Command, "autodetector"):

        @property
        def autodetector(self):
            base = self.__dict__.get("_compat_underneath") or super().autodetector
            return compat_autodetector(base) if conf.autodetector() else base

        @autodetector.setter
        def autodetector(self, value) -> None:
            self.__dict__["_compat_underneath"] = value

    else:  # Django 4.2

        def handle(self, *args, **options):
            module = _django_module(self)
            underneath = module.MigrationAutodetector
            if conf.autodetector():
                module.MigrationAutodetector = compat_autodetector(underneath)
            try:
                return super().handle(*args, **options)
            finally:
                module.MigrationAutodetector = underneath


def underneath(name: str) -> type[BaseCommand]:
    """The Command of management command ``name`` that would run if compat_views shipped
    none: that of the next app after compat_views in INSTALLED_APPS that ships one (such
    as django-syzygy), else Django's. An app listed before compat_views wins over both;
    list compat_views first, or give that app's command CompatCommandMixin."""
    configs = list(apps.get_app_configs())
    for config in configs[configs.index(apps.get_app_config(APP)) + 1 :]:
        if name in find_commands(os.path.join(config.path, "management")):
            return import_module(f"{config.name}.management.commands.{name}").Command
    return import_module(f"django.core.management.commands.{name}").Command
