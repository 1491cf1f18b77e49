"""Which plain migration operations would break the release still serving (``compat check``).

A blue/green rollout keeps the previous release serving while ``migrate`` runs, so
every unapplied operation must leave it working: no table or column it uses may be
dropped or renamed, no column it writes may change type or nullability, no column
it leaves out of its INSERTs may be NOT NULL without a database default, and no
statement may hold a lock that blocks its writes for as long as an index build or a
constraint validation takes. :func:`judge` decides that for one migration from the
project state before it, without a database; :func:`check` reads which migrations a
database has applied and judges the rest in the order ``migrate`` would run them.

What is not judged, and why:

* ``RunSQL`` and ``RunPython`` (and operations of other libraries) do what their code
  does. They are listed apart, to review by hand, and do not change the verdict; a
  ``RunSQL`` whose text mentions a breaking statement (``DROP TABLE``, ``RENAME``,
  ``ALTER … TYPE``, ``SET NOT NULL``, ``CREATE INDEX`` without ``CONCURRENTLY``,
  ``ADD CONSTRAINT`` without ``NOT VALID``) says which, a guess from its words only.
* An operation on a table that an earlier operation of the same unapplied plan
  created (a proxy's or an unmanaged model's CreateModel creates none): the release
  still serving has never seen that table. Likewise renaming or dropping a column, or
  changing a many-to-many field, that an AddField of the plan added.
* Migrations of ``compat_views`` itself, and compat operations, which exist to keep
  the release still serving working.
* Removing an index or a constraint, and metadata-only changes (defaults kept in
  Python, ``db_default``, choices, comments, a longer ``varchar``, a ``numeric`` with
  more digits). On a foreign key, any change Django does not ignore drops and re-adds
  its constraint, which is judged.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import NamedTuple

from django.contrib.postgres import operations as pg_ops
from django.db import connections, router
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.migrations import Migration
from django.db.migrations import operations as ops
from django.db.migrations.executor import MigrationExecutor
from django.db.migrations.operations.base import Operation
from django.db.migrations.operations.fields import FieldOperation
from django.db.migrations.operations.models import IndexOperation, ModelOperation
from django.db.migrations.state import ProjectState
from django.db.migrations.writer import MigrationWriter
from django.db.models import NOT_PROVIDED, CheckConstraint, UniqueConstraint
from django.db.models.options import normalize_together

from .operations.base import CompatOperation

LATER = (
    "No compat operation does this: ship it in a later release, once no release that "
    "needs the old shape is serving (or in a maintenance window)"
)
REVIEW = "Check by hand that the release still serving survives it"
BLOCKS_WRITES = "blocks writes to the table until it is built"
SELF = "compat_views"

_SAFE: tuple[type[Operation], ...] = (
    ops.CreateModel,
    ops.AlterModelOptions,
    ops.AlterModelManagers,
    ops.RemoveIndex,
    ops.RenameIndex,
    ops.RemoveConstraint,
    *(
        getattr(ops, name)
        for name in ("AlterModelTableComment", "AlterConstraint")
        if hasattr(ops, name)
    ),
    pg_ops.AddIndexConcurrently,
    pg_ops.RemoveIndexConcurrently,
    pg_ops.AddConstraintNotValid,
    pg_ops.ValidateConstraint,
    pg_ops.CreateExtension,
    pg_ops.CollationOperation,
)

# (words, pattern): what a RunSQL mentions that would likely break the release still serving.
_SUSPICIOUS = [
    (words, re.compile(pattern, re.IGNORECASE | re.DOTALL))
    for words, pattern in (
        ("DROP TABLE/COLUMN/VIEW", r"\bDROP\s+(TABLE|COLUMN|VIEW|MATERIALIZED\s+VIEW)\b"),
        ("RENAME", r"\bRENAME\b"),
        ("ALTER … TYPE", r"\bALTER\s+(COLUMN\s+)?\S+\s+(SET\s+DATA\s+)?TYPE\b"),
        ("SET NOT NULL", r"\bSET\s+NOT\s+NULL\b"),
        ("CREATE INDEX without CONCURRENTLY", r"\bCREATE\s+(UNIQUE\s+)?INDEX\b(?!\s+CONCURRENTLY)"),
        ("ADD CONSTRAINT without NOT VALID", r"\bADD\s+CONSTRAINT\b(?!.*\bNOT\s+VALID\b)"),
    )
]
_VARCHAR = re.compile(r"^varchar\((\d+)\)$")
# Functions whose value PostgreSQL computes anew for each row (VOLATILE) that a db_default
# is likely to call; a default calling one makes ADD COLUMN rewrite the table.
_VOLATILE = re.compile(
    r"\b(RANDOM|GEN_RANDOM_UUID|UUID_GENERATE_V[14]|UUIDV7|CLOCK_TIMESTAMP|TIMEOFDAY|NEXTVAL)"
    r"\s*\(",
    re.IGNORECASE,
)
_NUMERIC = re.compile(r"^numeric\((?P<digits>\d+),\s*(?P<scale>\d+)\)$")


@dataclass(frozen=True)
class Finding:
    """One thing an operation does that the release still serving would not survive
    (``breaking``), or one operation that is not judged (``breaking`` false)."""

    app_label: str
    migration: str
    operation: str  # the operation as code, e.g. RenameField('book', 'title', 'name')
    problem: str  # what it does to the database and why that breaks the serving release
    instead: str  # what to use instead, a sentence
    breaking: bool = True
    applied: bool = False

    @property
    def where(self) -> str:
        return f"{self.app_label}.{self.migration}"

    def __str__(self) -> str:
        return f"{self.where}: {self.operation} {self.problem}. {self.instead}."


class Judgement(NamedTuple):
    findings: list[Finding]
    state: ProjectState  # the project state after the migration
    fresh: frozenset[str | tuple[str, str]]  # tables and (table, column)s the plan created


class _Issue(NamedTuple):
    problem: str
    instead: str
    breaking: bool = True


@dataclass
class _Step:
    """One database operation with the states around it, as Django's ``database_forwards``
    sees them."""

    app_label: str
    operation: Operation
    before: ProjectState
    after: ProjectState
    connection: BaseDatabaseWrapper
    fresh: frozenset = frozenset()  # what the plan created so far (see judge)

    def old(self, name: str):
        return self.before.apps.get_model(self.app_label, name)

    def new(self, name: str):
        return self.after.apps.get_model(self.app_label, name)

    def old_field(self, model_name: str, name: str):
        return self.old(model_name)._meta.get_field(name)

    def new_field(self, model_name: str, name: str):
        return self.new(model_name)._meta.get_field(name)

    def table(self, model_name: str) -> str:
        return self.old(model_name)._meta.db_table


def code(value) -> str:
    """``value`` as migration code (what a user would paste), on one line."""
    try:
        text, _ = MigrationWriter.serialize(value)
    except ValueError:
        text = repr(value)
    text = " ".join(text.split())
    return text if len(text) <= 120 else text[:119] + "…"


def describe(operation: Operation) -> str:
    """The operation as a call with its required arguments: ``RemoveField('book', 'pages')``."""
    name, args, kwargs = operation.deconstruct()
    required = [
        p.name
        for p in list(inspect.signature(type(operation).__init__).parameters.values())[1:]
        if p.default is p.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
    ]
    values = [*args, *(kwargs[k] for k in required if k in kwargs)]
    return f"{name}({', '.join(code(v) for v in values)})"


def _quoted(*names: str) -> str:
    return ", ".join(f'"{n}"' for n in names)


def _has_db_default(field) -> bool:
    return getattr(field, "db_default", NOT_PROVIDED) is not NOT_PROVIDED


def _column_type(field, connection) -> tuple:
    params = field.db_parameters(connection)
    return params["type"], params.get("collation")


def _widens(old_type: tuple, new_type: tuple) -> bool:
    """A longer (or unlimited) varchar, or text; a numeric with more digits and the same
    scale: PostgreSQL changes only the catalog, and every value the release still serving
    writes still fits."""
    (old, old_collation), (new, new_collation) = old_type, new_type
    old, new = old or "", new or ""
    if old_collation != new_collation:
        return False
    if found := _VARCHAR.match(old):
        longer = _VARCHAR.match(new)
        return new in ("varchar", "text") or (bool(longer) and int(longer[1]) >= int(found[1]))
    if old == "varchar":
        return new == "text"
    if (found := _NUMERIC.match(old)) and (more := _NUMERIC.match(new)):
        return more["scale"] == found["scale"] and int(more["digits"]) >= int(found["digits"])
    return False


def _volatile_default(step: _Step, field) -> str | None:
    """The field's db_default as SQL, if it calls a function PostgreSQL evaluates anew for
    each row (then ADD COLUMN cannot store it once, and rewrites the table)."""
    if not _has_db_default(field):
        return None
    editor = step.connection.schema_editor(collect_sql=True, atomic=False)  # never executes
    sql, _ = editor.db_default_sql(field)
    return sql if _VOLATILE.search(sql) else None


def _fk_target(field) -> str | None:
    """The table a field's foreign key constraint points at, if it has one."""
    if field.remote_field is None or field.many_to_many or not field.db_constraint:
        return None
    return field.remote_field.model._meta.db_table


def _delete_model(step: _Step) -> Iterator[_Issue]:
    name = step.operation.name
    yield _Issue(
        f'drops table "{step.table(name)}": the release still serving reads and writes it',
        f"Use RemoveCompatModel({name!r})",
    )


def _many_to_many_tables(model) -> list[str]:
    """The auto-created many-to-many tables of ``model`` or pointing at it, which Django
    renames (or renames columns of) with the model."""
    fields = [*model._meta.local_many_to_many]
    fields += [r.field for r in model._meta.related_objects if r.many_to_many]
    return sorted(
        {
            f.remote_field.through._meta.db_table
            for f in fields
            if f.remote_field.through._meta.auto_created
        }
    )


def _rename_model(step: _Step) -> Iterator[_Issue]:
    op = step.operation
    old, new = step.old(op.old_name)._meta.db_table, step.new(op.new_name)._meta.db_table
    many = _many_to_many_tables(step.old(op.old_name))
    if many:
        yield _Issue(
            f"renames the many-to-many table(s) {_quoted(*many)} or their columns: the release "
            "still serving reads and writes them",
            f"RenameCompatModel refuses models with many-to-many fields. {LATER}",
        )
    elif old != new:
        yield _Issue(
            f'renames table "{old}" to "{new}": the release still serving reads and writes "{old}"',
            f"Use RenameCompatModel({op.old_name!r}, {op.new_name!r})",
        )


def _alter_model_table(step: _Step) -> Iterator[_Issue]:
    name = step.operation.name
    old, new = step.old(name)._meta.db_table, step.new(name)._meta.db_table
    if old != new:
        yield _Issue(
            f'renames table "{old}" to "{new}": the release still serving reads and writes "{old}"',
            LATER,
        )


def _alter_order_with_respect_to(step: _Step) -> Iterator[_Issue]:
    name = step.operation.name
    table = step.table(name)
    was, now = (
        step.old(name)._meta.order_with_respect_to,
        step.new(name)._meta.order_with_respect_to,
    )
    if now and not was:
        yield _Issue(
            f'adds NOT NULL column "_order" to "{table}" without a database default: the '
            "release still serving inserts rows without it, and they fail",
            LATER,
        )
    elif was and not now:
        yield _Issue(
            f'drops column "_order" of "{table}": the release still serving writes it', LATER
        )


def _remove_field(step: _Step) -> Iterator[_Issue]:
    op = step.operation
    field, table = step.old_field(op.model_name, op.name), step.table(op.model_name)
    if field.many_to_many:
        through = field.remote_field.through._meta
        if through.auto_created:
            yield _Issue(
                f'drops table "{through.db_table}": the release still serving reads and writes it',
                LATER,
            )
        return
    if field.column is None:
        return
    down = ""
    if not field.null and not field.has_default() and not _has_db_default(field):
        down = (
            ", down=…) with down the SQL, over the remaining columns, that gives the rows "
            "the new release inserts a value (the column is NOT NULL without a default"
        )
    yield _Issue(
        f'drops column "{field.column}" of "{table}": the release still serving reads and '
        "writes it",
        f"Use RemoveCompatColumn({op.model_name!r}, {op.name!r}{down})",
    )


def _rename_field(step: _Step) -> Iterator[_Issue]:
    op = step.operation
    old = step.old_field(op.model_name, op.old_name)
    new = step.new_field(op.model_name, op.new_name)
    table = step.table(op.model_name)
    if old.many_to_many:
        if old.m2m_db_table() != new.m2m_db_table():
            yield _Issue(
                f'renames table "{old.m2m_db_table()}" to "{new.m2m_db_table()}": the release '
                "still serving reads and writes the old one",
                LATER,
            )
    elif old.column != new.column:
        yield _Issue(
            f'renames column "{old.column}" of "{table}" to "{new.column}": the release still '
            f'serving reads and writes "{old.column}"',
            f"Use RenameCompatColumn({op.model_name!r}, {op.old_name!r}, {op.new_name!r})",
        )


def _add_field(step: _Step) -> Iterator[_Issue]:
    op = step.operation
    field, table = step.new_field(op.model_name, op.name), step.table(op.model_name)
    if field.many_to_many or field.column is None:
        return  # a new many-to-many table, or no column at all
    compat = f"Use AddCompatColumn({op.model_name!r}, {op.name!r}, {code(op.field)}"
    if getattr(field, "generated", False):
        yield _Issue(
            f'adds stored generated column "{field.column}" to "{table}": PostgreSQL rewrites '
            "the table under a lock that blocks reads and writes",
            LATER,
        )
        return
    volatile = _volatile_default(step, field)
    if volatile:
        yield _Issue(
            f'adds column "{field.column}" to "{table}" with database default {volatile}, '
            "which PostgreSQL computes for every row: ADD COLUMN rewrites the table under a "
            "lock that blocks reads and writes",
            f"{compat}, up=…), with up computing the value for existing rows (it backfills "
            "them in batches; the db_default serves rows inserted later)",
        )
    if not field.null and not _has_db_default(field):
        yield _Issue(
            f'adds NOT NULL column "{field.column}" to "{table}" without a database default: '
            "the release still serving inserts rows without it, and they fail (a Python "
            "default never reaches its INSERTs)",
            f"{compat}, up=…), or without up when the default is enough (the legacy "
            "colour's rows get it); or give the field a db_default",
        )
    target = _fk_target(field)
    if target is not None:
        yield _Issue(
            f'adds a foreign key from "{table}"."{field.column}" to "{target}": validating '
            f"it blocks writes to both tables while it reads every row, and its index is built "
            f"by CREATE INDEX, which {BLOCKS_WRITES}",
            f"{compat}), which adds the foreign key NOT VALID, validates it without that lock "
            "and builds the index CONCURRENTLY",
        )
    elif field.unique:
        yield _Issue(
            f'adds column "{field.column}" to "{table}" with a unique index built by ALTER '
            "TABLE … ADD COLUMN … UNIQUE, which blocks reads and writes until it is built",
            f"{compat}), which builds the index CONCURRENTLY",
        )
    elif field.db_index:
        yield _Issue(
            f'adds column "{field.column}" to "{table}" with an index built by CREATE INDEX, '
            f"which {BLOCKS_WRITES}",
            f"{compat}), which builds the index CONCURRENTLY",
        )
    check = field.db_parameters(step.connection).get("check")
    if check:
        yield _Issue(
            f'adds column "{field.column}" to "{table}" with CHECK ({check}): PostgreSQL '
            "checks every row under the lock of ADD COLUMN, which blocks reads and writes",
            f"{compat}{', up=…' if volatile else ''}), which adds the CHECK NOT VALID and "
            "validates it without that lock",
        )


def _fk_recreated(step: _Step, old, new) -> bool:
    """Whether Django drops and re-adds the foreign key constraint of the altered field:
    it does for every change but those of attributes without a database meaning
    (``on_delete``, ``related_name``, ``choices``, ``help_text`` …) and ``db_comment``."""
    if _fk_target(old) is None or _fk_target(new) is None:
        return False
    editor = step.connection.schema_editor(collect_sql=True, atomic=False)  # never executes
    try:
        return editor._field_should_be_altered(old, new, ignore={"db_comment"})
    except TypeError:  # a Django whose editor ignores nothing: every change re-adds it
        return editor._field_should_be_altered(old, new)


def _referencing_tables(field) -> list[str]:
    """The tables whose foreign keys reference ``field``'s column (Django alters their
    columns with it; AlterCompatColumn refuses such a column)."""
    tables = set()
    for relation in field.model._meta.related_objects:
        if relation.many_to_many:
            through = relation.through._meta
            if through.auto_created and field.primary_key:
                tables.add(through.db_table)
        elif relation.field.db_constraint and relation.field.target_field.name == field.name:
            tables.add(relation.related_model._meta.db_table)
    return sorted(tables)


def _alter_many_to_many(step: _Step, old, new) -> Iterator[_Issue]:
    if not all(f.remote_field.through._meta.auto_created for f in (old, new)):
        return  # an explicit through model: Django changes nothing
    table = old.m2m_db_table()
    changes = []
    if table != new.m2m_db_table():
        changes.append(f'renames table "{table}" to "{new.m2m_db_table()}"')
    for was, now in (
        (old.m2m_column_name(), new.m2m_column_name()),
        (old.m2m_reverse_name(), new.m2m_reverse_name()),
    ):
        if was != now:
            changes.append(f'renames column "{was}" of "{table}" to "{now}"')
    old_to, new_to = old.remote_field.model._meta.db_table, new.remote_field.model._meta.db_table
    if old_to != new_to:
        changes.append(
            f'makes the foreign key of "{table}" reference "{new_to}" instead of "{old_to}"'
        )
    if changes:
        yield _Issue(
            f"{', '.join(changes)}: the release still serving reads and writes the "
            "many-to-many table as it was",
            LATER,
        )


def _rebuilds_pattern_index(editor, old, new, old_type: str, new_type: str) -> bool:
    """Whether Django's AlterField rebuilds the column's pattern index (``…_like``) after
    its ALTER COLUMN … TYPE: from Django 5.0 on, for an indexed varchar or text column
    that changes type; Django 4.2 drops that index and builds none."""
    changing = getattr(editor, "_is_changing_type_of_indexed_text_column", None)
    return (
        changing is not None
        and changing(old, old_type, new_type)
        and bool(new.db_index or new.unique)
        and new_type.startswith(("varchar", "text"))
    )


def _alter_field(step: _Step) -> Iterator[_Issue]:
    op = step.operation
    old, new = step.old_field(op.model_name, op.name), step.new_field(op.model_name, op.name)
    if old.many_to_many and new.many_to_many:
        yield from _alter_many_to_many(step, old, new)
        return
    if old.many_to_many or new.many_to_many or old.column is None or new.column is None:
        return
    editor = step.connection.schema_editor(collect_sql=True, atomic=False)  # never executes
    if not editor._field_should_be_altered(old, new):
        return  # Django runs nothing for it
    table, column = step.table(op.model_name), old.column
    on = f'column "{column}" of "{table}"'
    if old.primary_key != new.primary_key:
        yield _Issue(f'changes the primary key of "{table}"', LATER)
        return
    referencing = _referencing_tables(old)
    unseen = _new_column(step)  # the release still serving never reads or writes it

    def compat(note: str = "") -> str:
        if old.primary_key or referencing:
            what = "a primary key" if old.primary_key else "a column foreign keys reference"
            return f"AlterCompatColumn refuses {what}. {LATER}"
        return (
            f"Use AlterCompatColumn({op.model_name!r}, {op.name!r}, {code(op.field)}, up=…, "
            f"down=…), up over the old columns and down over the new ones{note}"
        )

    if old.column != new.column and not unseen:
        yield _Issue(
            f'renames {on} to "{new.column}": the release still serving reads and writes '
            f'"{column}"',
            LATER,
        )
    old_type, new_type = (_column_type(f, step.connection) for f in (old, new))
    if old_type[0] == new_type[0] and old_type[1] != new_type[1]:
        collation = f'"{new_type[1]}"' if new_type[1] else "the default"
        yield _Issue(
            f"changes the collation of {on} to {collation}: ALTER COLUMN … TYPE … "
            "COLLATE rebuilds its indexes under a lock that blocks reads and writes, and "
            "the release still serving sorts and compares by the old one",
            compat(),
        )
    elif _widens(old_type, new_type):
        if _rebuilds_pattern_index(editor, old, new, old_type[0], new_type[0]):
            yield _Issue(
                f"rebuilds the pattern index (…_like) of {on} by CREATE INDEX, after ALTER "
                "COLUMN … TYPE took the lock that blocks reads and writes until it is built",
                "Apply this AlterField as state only (SeparateDatabaseAndState), with RunSQL "
                "doing what sqlmigrate shows but building the index CONCURRENTLY (in a "
                "migration with atomic = False)",
            )
    elif old_type != new_type:
        also = (
            f", and that of the foreign key columns of {_quoted(*referencing)} that reference "
            "it, rewriting those tables too"
            if referencing
            else ""
        )
        yield _Issue(
            f"changes the type of {on} from {old_type[0]} to {new_type[0]}{also}: ALTER "
            "COLUMN … TYPE blocks reads and writes while it rewrites or checks every row, and "
            "the release still serving reads and writes the old type",
            compat(),
        )
    if old.null and not new.null:
        yield _Issue(
            f"makes {on} NOT NULL: SET NOT NULL blocks reads and writes while it reads every "
            "row, and the release still serving may still write NULL",
            compat(" (up gives legacy rows a value, e.g. with coalesce)"),
        )
    elif new.null and not old.null and not unseen:
        yield _Issue(
            f"makes {on} nullable: the new release may write NULL, which the release still "
            "serving does not expect (its field has null=False)",
            compat(" (down gives the legacy colour a value for NULL, e.g. with coalesce)"),
        )
    if (
        _has_db_default(old)
        and not old.has_default()  # a Python default would be in its INSERTs instead
        and not _has_db_default(new)
        and not new.null
        and not unseen
    ):
        yield _Issue(
            f"drops the database default of {on}, which stays NOT NULL: the release still "
            "serving leaves the column to that default in its INSERTs (its field has a "
            "db_default), and they fail",
            f"{LATER}; until then keep the db_default (a Python default alone never reaches "
            "the INSERTs of the release still serving)",
        )
    old_check = old.db_parameters(step.connection).get("check")
    new_check = new.db_parameters(step.connection).get("check")
    if new_check and new_check != old_check:
        yield _Issue(
            f"adds CHECK ({new_check}) on {on}: validating it blocks reads and writes while it "
            "reads every row, and the release still serving may write values it refuses",
            compat(),
        )
    target = _fk_target(new)
    if target is not None and target != _fk_target(old):
        yield _Issue(
            f'adds a foreign key from {on} to "{target}": validating it blocks writes '
            "to both tables while it reads every row",
            compat("; it adds the foreign key NOT VALID and validates it without that lock"),
        )
    elif _fk_recreated(step, old, new):
        yield _Issue(
            f'drops and re-adds the foreign key from {on} to "{target}", as Django does for '
            "any change of a foreign key field but of attributes such as on_delete, "
            "related_name or db_comment: validating it reads every row while the lock its "
            "DROP CONSTRAINT took blocks reads and writes",
            "Apply this AlterField as state only (SeparateDatabaseAndState), with what it "
            "changes in the database besides the foreign key done by RunSQL (see sqlmigrate), "
            "if anything",
        )
    if new.primary_key:
        return
    if new.unique and not old.unique:
        yield _Issue(
            f"builds a unique index on {on} by ALTER TABLE … ADD CONSTRAINT … UNIQUE, which "
            "blocks reads and writes until it is built",
            _build_first("CREATE UNIQUE INDEX CONCURRENTLY", "AlterField") + f"; or {compat()}",
        )
    elif new.db_index and not new.unique and (not old.db_index or old.unique):
        yield _Issue(
            f"builds an index on {on} by CREATE INDEX, which {BLOCKS_WRITES}",
            _build_first("CREATE INDEX CONCURRENTLY", "AlterField") + f"; or {compat()}",
        )


def _build_first(statement: str, operation: str, then: str = "") -> str:
    return (
        f"Build the index first with {statement} under Django's name (see sqlmigrate), as "
        f"RunSQL in a migration with atomic = False{then}, and apply this {operation} as "
        "state only (SeparateDatabaseAndState)"
    )


def _add_index(step: _Step) -> Iterator[_Issue]:
    op = step.operation
    yield _Issue(
        f'builds index "{op.index.name}" on "{step.table(op.model_name)}" by CREATE INDEX, '
        f"which {BLOCKS_WRITES}",
        f"Use AddIndexConcurrently({op.model_name!r}, {code(op.index)}) from "
        "django.contrib.postgres.operations, in a migration with atomic = False",
    )


def _add_constraint(step: _Step) -> Iterator[_Issue]:
    op = step.operation
    constraint, table = op.constraint, step.table(op.model_name)
    if isinstance(constraint, CheckConstraint):
        yield _Issue(
            f'adds CHECK constraint "{constraint.name}" to "{table}": validating it blocks '
            "reads and writes while it reads every row",
            f"Use AddConstraintNotValid({op.model_name!r}, {code(constraint)}), then "
            f"ValidateConstraint({op.model_name!r}, {constraint.name!r}) in a later migration "
            "(django.contrib.postgres.operations)",
        )
    elif isinstance(constraint, UniqueConstraint):
        # Django builds a unique index for these, a unique constraint (whose ALTER TABLE
        # takes the lock that blocks reads too) for the others.
        as_index = any(
            getattr(constraint, name, None)
            for name in ("condition", "expressions", "include", "opclasses")
        )
        how = (
            f"CREATE UNIQUE INDEX, which {BLOCKS_WRITES}"
            if as_index
            else "ALTER TABLE … ADD CONSTRAINT, which blocks reads and writes until it is built"
        )
        yield _Issue(
            f'adds unique constraint "{constraint.name}" to "{table}": its index is built by {how}',
            _build_first(
                "CREATE UNIQUE INDEX CONCURRENTLY",
                "AddConstraint",
                " (followed, for a constraint without condition or expressions, by ALTER "
                "TABLE … ADD CONSTRAINT … UNIQUE USING INDEX)",
            ),
        )
    else:
        yield _Issue(
            f'adds constraint "{constraint.name}" to "{table}" by ALTER TABLE … ADD '
            "CONSTRAINT, which blocks reads and writes until it is built",
            LATER,
        )


def _alter_together(step: _Step) -> Iterator[_Issue]:
    op = step.operation
    key = (step.app_label, op.name_lower)
    was = normalize_together(step.before.models[key].options.get(op.option_name, ()))
    now = normalize_together(step.after.models[key].options.get(op.option_name, ()))
    added = sorted(set(now) - set(was))
    unique = op.option_name == "unique_together"
    if not added:
        return
    instead = (
        _build_first("CREATE UNIQUE INDEX CONCURRENTLY", "AlterUniqueTogether")
        if unique
        else "Use AddIndexConcurrently with an Index over the same fields (in a migration with "
        "atomic = False) and apply this AlterIndexTogether as state only "
        "(SeparateDatabaseAndState)"
    )
    how = (
        "unique index is built by ALTER TABLE … ADD CONSTRAINT … UNIQUE, which blocks reads "
        "and writes until it is built"
        if unique
        else f"index is built by CREATE INDEX, which {BLOCKS_WRITES}"
    )
    yield _Issue(
        f'adds {op.option_name} {", ".join(map(str, added))} to "{step.table(op.name)}": its {how}',
        instead,
    )


def _suspicious(sql) -> list[str]:
    statements = (
        [sql]
        if isinstance(sql, str)
        else [s[0] if isinstance(s, (list, tuple)) else s for s in sql]
    )
    return [words for words, pattern in _SUSPICIOUS if any(pattern.search(s) for s in statements)]


def _run_sql(step: _Step) -> Iterator[_Issue]:
    sql = step.operation.sql
    if not sql:  # RunSQL.noop
        return
    found = _suspicious(sql)
    what = f"runs SQL that mentions {', '.join(found)}" if found else "runs SQL"
    yield _Issue(f"{what}, which compat check does not judge", REVIEW, breaking=False)


def _run_python(step: _Step) -> Iterator[_Issue]:
    if step.operation.code is ops.RunPython.noop:
        return
    yield _Issue("runs Python code, which compat check does not judge", REVIEW, breaking=False)


def _unknown(step: _Step) -> Iterator[_Issue]:
    yield _Issue("is an operation compat check does not know", REVIEW, breaking=False)


# Subclasses before their base classes: the first match judges.
_JUDGES = (
    (CompatOperation, None),
    (_SAFE, None),
    (ops.DeleteModel, _delete_model),
    (ops.RenameModel, _rename_model),
    (ops.AlterModelTable, _alter_model_table),
    (ops.AlterOrderWithRespectTo, _alter_order_with_respect_to),
    (
        (ops.AlterUniqueTogether, getattr(ops, "AlterIndexTogether", ops.AlterUniqueTogether)),
        _alter_together,
    ),
    (ops.RemoveField, _remove_field),
    (ops.RenameField, _rename_field),
    (ops.AddField, _add_field),
    (ops.AlterField, _alter_field),
    (ops.AddIndex, _add_index),
    (ops.AddConstraint, _add_constraint),
    (ops.RunSQL, _run_sql),
    (ops.RunPython, _run_python),
    (Operation, _unknown),
)


def _judge_of(operation: Operation):
    return next(judge for kinds, judge in _JUDGES if isinstance(operation, kinds))


def _model_of(operation: Operation) -> str | None:
    """The model whose existing table the operation changes (None: no existing table)."""
    if isinstance(operation, (FieldOperation, IndexOperation)):
        return operation.model_name
    if isinstance(operation, ModelOperation) and not isinstance(operation, ops.CreateModel):
        return operation.name  # RenameModel keeps its old name here
    return getattr(operation, "model_name", None)  # ValidateConstraint and the like


def _steps(app_label: str, operations: Iterable[Operation], state: ProjectState) -> Iterator[tuple]:
    """Each database operation with the states before and after it, advancing ``state``.

    Django runs the ``database_operations`` of SeparateDatabaseAndState on a state of
    their own, then moves the project state by its ``state_operations``; we follow it
    (``operations.base.database_operations`` flattens without the states).
    """
    for operation in operations:
        if isinstance(operation, ops.SeparateDatabaseAndState):
            yield from _steps(app_label, operation.database_operations, state.clone())
            operation.state_forwards(app_label, state)
        else:
            before = state.clone()
            operation.state_forwards(app_label, state)
            yield operation, before, state


def _allowed(step: _Step, model_name: str | None) -> bool:
    """Whether the operation acts on this database at all (routers, managed, proxy)."""
    alias, op = step.connection.alias, step.operation
    if model_name is not None:
        return op.allow_migrate_model(alias, step.old(model_name))
    if isinstance(op, (ops.RunSQL, ops.RunPython)):
        return router.allow_migrate(alias, step.app_label, **op.hints)
    return True


def _tables(model) -> set[str]:
    """The table of ``model`` and the many-to-many tables Django made for its fields."""
    through = [f.remote_field.through._meta for f in model._meta.local_many_to_many]
    return {model._meta.db_table, *(t.db_table for t in through if t.auto_created)}


def _where(field) -> str | tuple[str, str] | None:
    """What of the database a field is: its many-to-many table, or (table, column)."""
    if field.many_to_many:
        through = field.remote_field.through._meta
        return through.db_table if through.auto_created else None
    if field.column is None:
        return None
    return (field.model._meta.db_table, field.column)


def _on_fresh(step: _Step, model_name: str | None, fresh: set) -> bool:
    """Whether the operation renames or drops only what the plan created: a table, a
    column or a many-to-many table the release still serving has never seen."""
    op = step.operation
    if model_name is not None and step.table(model_name) in fresh:
        return True
    if isinstance(op, (ops.RenameField, ops.RemoveField, ops.AlterField)):
        name = op.old_name if isinstance(op, ops.RenameField) else op.name
        where = _where(step.old_field(op.model_name, name))
        if isinstance(op, ops.AlterField) and not isinstance(where, str):
            return False  # a new column's ALTER still locks the table: judged
        return where is not None and where in fresh
    return False


def _new_column(step: _Step) -> bool:
    """Whether an AlterField alters a column the plan added (its ALTER is still judged,
    for the locks it takes, but the release still serving never reads or writes it)."""
    op = step.operation
    if not isinstance(op, ops.AlterField):
        return False
    return _where(step.old_field(op.model_name, op.name)) in step.fresh


def _created(step: _Step, *, carried: bool) -> set:
    """What the operation makes that the release still serving has never seen: the
    column or many-to-many table of an AddField; with ``carried`` (the operation acts on
    something new already), the new name of what it renames."""
    op = step.operation
    if isinstance(op, ops.RemoveField):
        return set()
    if isinstance(op, ops.AddField) or (carried and isinstance(op, FieldOperation)):
        name = op.new_name if isinstance(op, ops.RenameField) else op.name
        where = _where(step.new_field(op.model_name, name))
        return set() if where is None else {where}
    if carried and isinstance(op, ops.RenameModel):
        return _tables(step.new(op.new_name))
    if carried and isinstance(op, ops.AlterModelTable):
        return _tables(step.new(op.name))
    return set()


def judge(
    migration: Migration,
    from_state: ProjectState,
    *,
    connection: BaseDatabaseWrapper,
    fresh: Iterable[str | tuple[str, str]] = (),
) -> Judgement:
    """What ``migration`` would do that the release still serving would not survive.

    ``from_state`` is the project state before the migration (left as it is);
    ``connection`` (never queried) renders column types and routes operations;
    ``fresh`` names the tables (and, as ``(table, column)``, the columns) created
    earlier in the same plan, which the release still serving has never seen.
    """
    state, fresh, findings = from_state.clone(), set(fresh), []
    if migration.app_label == SELF:
        return Judgement([], migration.mutate_state(state, preserve=False), frozenset(fresh))
    for operation, before, after in _steps(migration.app_label, migration.operations, state):
        step = _Step(migration.app_label, operation, before, after, connection, frozenset(fresh))
        model_name = _model_of(operation)
        if model_name is not None and (step.app_label, model_name.lower()) not in before.models:
            model_name = None  # another library's operation, whose model_name is its own
        if isinstance(operation, ops.CreateModel):
            # A proxy's or an unmanaged model's table is not created: it may be one the
            # release still serving uses (a proxy's is its parent's).
            model = step.new(operation.name)
            if operation.allow_migrate_model(connection.alias, model):
                fresh |= _tables(model)
            continue
        if not _allowed(step, model_name):
            continue
        if _on_fresh(step, model_name, fresh):
            fresh |= _created(step, carried=True)
            continue
        judge_one = _judge_of(operation)
        for issue in judge_one(step) if judge_one else ():
            findings.append(
                Finding(
                    migration.app_label,
                    migration.name,
                    describe(operation),
                    issue.problem,
                    issue.instead,
                    issue.breaking,
                )
            )
        fresh |= _created(step, carried=_new_column(step))
    return Judgement(findings, state, frozenset(fresh))


def check(
    alias: str, *, app_labels: Sequence[str] = (), include_applied: bool = False
) -> list[Finding]:
    """Judge the migrations the ``alias`` database has not applied (all, with
    ``include_applied``), in ``migrate``'s order, each from the state before it.

    Reads only ``django_migrations`` (absent: nothing applied), so it works before
    compat_views' own tables exist. Applied migrations are judged on their own: which of
    them shipped together is not recorded, so only a table created in the same migration
    counts as new. ``app_labels`` limits which apps' migrations are reported.
    """
    connection = connections[alias]
    executor = MigrationExecutor(connection)
    loader = executor.loader
    plan = [m for m, _ in executor.migration_plan(loader.graph.leaf_nodes(), clean_start=True)]
    applied = [m for m in plan if (m.app_label, m.name) in loader.applied_migrations]
    pending = [m for m in plan if (m.app_label, m.name) not in loader.applied_migrations]
    state, fresh, findings = ProjectState(real_apps=loader.unmigrated_apps), frozenset(), []
    for migration in applied:
        if include_applied:
            judged = judge(migration, state, connection=connection)
            findings += [replace(f, applied=True) for f in judged.findings]
            state = judged.state
        else:
            state = migration.mutate_state(state, preserve=False)
    for migration in pending:
        judged = judge(migration, state, connection=connection, fresh=fresh)
        findings += judged.findings
        state, fresh = judged.state, judged.fresh
    return [f for f in findings if not app_labels or f.app_label in app_labels]


def render(findings: Sequence[Finding], *, include_applied: bool = False) -> str:
    """The listing ``compat check`` prints: breaking operations first, then those to
    review by hand, each with what to do instead, then a count."""
    breaking = [f for f in findings if f.breaking]
    review = [f for f in findings if not f.breaking]
    scope = "migration" if include_applied else "unapplied migration"
    lines: list[str] = []
    for title, group in (
        ("Operations that would break the release still serving:", breaking),
        ("Not judged (review them by hand):", review),
    ):
        if group:
            lines += [title, ""]
            for f in group:
                tag = " [applied]" if f.applied else ""
                lines += [
                    f"  {f.where}{tag}: {f.operation} {f.problem}.",
                    f"      {f.instead}.",
                    "",
                ]
    if breaking:
        migrations = len({f.where for f in breaking})
        lines.append(
            f"{len(breaking)} breaking change(s) in {migrations} {scope}(s)"
            + (f"; {len(review)} operation(s) not judged." if review else ".")
        )
    else:
        lines.append(
            f"No {scope} would break the release still serving"
            + (f" ({len(review)} operation(s) not judged)." if review else ".")
        )
    return "\n".join(lines)
