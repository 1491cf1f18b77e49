"""What makemigrations writes for each breaking edit, through the writer and on a real database.

For each edit, release 1 and release 2 of the bookshop are written as makemigrations
writes them (``autodetect_harness.write``). The files read back as the operations
written, makemigrations sees no change afterwards, a placeholder stops ``migrate``
before anything ran, and once filled in the migration expands, rolls back and completes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from django.core.management import call_command
from django.db import models
from django.db.migrations.autodetector import MigrationAutodetector
from django.db.migrations.loader import MigrationLoader
from django.db.migrations.questioner import NonInteractiveMigrationQuestioner

from compat_views.errors import UnfilledPlaceholder
from compat_views.models import Rollout
from compat_views.operations import FILL_IN
from compat_views.operations.base import CompatOperation
from tests.autodetect_harness import (
    APP,
    Yes,
    fill,
    migrations_dir,  # noqa: F401  (fixture)
    model,
    placeholders,
    state,
    write,
)
from tests.harness import applied, columns, compat, leftovers, migrate, model_at, rows
from tests.test_templates import comparable

ISBN = models.CharField(max_length=20, unique=True)
TITLE = models.CharField(max_length=200)
AUTHOR = model("Author", name=models.CharField(max_length=100))


@dataclass
class Edit:
    """One edit of release 1 into release 2, the answers its placeholders need, and the
    models each colour writes (None: that colour has no such model)."""

    release1: object
    release2: object
    kinds: list[str]
    answers: tuple[str, ...] = ()
    legacy: str = "Book"
    new: str | None = "Book"
    questioner: object = field(default_factory=Yes)


EDITS = {
    "rename-field": Edit(
        state(model(isbn=ISBN, title=TITLE)),
        state(model(isbn=ISBN, name=TITLE)),
        ["RenameCompatColumn"],
    ),
    "alter-type": Edit(
        state(model(isbn=ISBN, pages=models.IntegerField())),
        state(model(isbn=ISBN, pages=models.BigIntegerField())),
        ["AlterCompatColumn"],
    ),
    "not-null": Edit(
        state(model(isbn=ISBN, note=models.TextField(null=True))),
        state(model(isbn=ISBN, note=models.TextField())),
        ["AlterCompatColumn"],
        answers=("COALESCE(note, '')",),
        questioner=NonInteractiveMigrationQuestioner(specified_apps={APP}, log=lambda m: None),
    ),
    "remove-field": Edit(
        state(model(isbn=ISBN, price_cents=models.IntegerField())),
        state(model(isbn=ISBN)),
        ["RemoveCompatColumn"],
        answers=("0",),
    ),
    "add-not-null": Edit(
        state(model(isbn=ISBN)),
        state(model(isbn=ISBN, edition=models.SmallIntegerField())),
        ["AddCompatColumn"],
        answers=("1",),
    ),
    "rename-model": Edit(
        state(model(isbn=ISBN), AUTHOR),
        state(model(isbn=ISBN), model("Writer", name=models.CharField(max_length=100))),
        ["RenameCompatModel"],
        legacy="Author",
        new="Writer",
    ),
    "delete-model": Edit(
        state(model(isbn=ISBN), AUTHOR),
        state(model(isbn=ISBN)),
        ["RemoveCompatModel"],
        legacy="Author",
        new=None,
    ),
    "several-on-one-model": Edit(
        state(
            model(
                isbn=ISBN,
                title=TITLE,
                pages=models.IntegerField(default=0),
                price_cents=models.IntegerField(),
                note=models.TextField(null=True),
            )
        ),
        state(
            model(
                isbn=ISBN,
                name=TITLE,
                pages=models.BigIntegerField(default=0),
                note=models.TextField(default=""),
                edition=models.SmallIntegerField(),
            )
        ),
        [
            "RenameCompatColumn",
            "AddCompatColumn",
            "RemoveCompatColumn",
            "AlterCompatColumn",
            "AlterCompatColumn",
        ],
        answers=("1", "0"),
    ),
}


def loaded(name: str):
    """The bookshop's migration ``name`` as the loader reads it from its file."""
    return MigrationLoader(None, ignore_no_migrations=True).disk_migrations[APP, name]


@pytest.mark.usefixtures("migrations_dir")
@pytest.mark.parametrize("edit", EDITS.values(), ids=EDITS.keys())
def test_the_written_migration_reads_back_and_leaves_no_changes(edit):
    (path,) = write(edit.release1, edit.release2, edit.questioner)
    migration = loaded(path.stem)
    assert [type(op).__name__ for op in migration.operations] == edit.kinds
    assert all(
        type(op).__module__ == "compat_views.operations"
        for op in migration.operations
        if isinstance(op, CompatOperation)
    )
    assert placeholders(path) == len(edit.answers)
    assert sum(
        isinstance(getattr(op, argument, None), FILL_IN)
        for op in migration.operations
        for argument in ("up", "down")
    ) == len(edit.answers)
    (again,) = write(edit.release1, edit.release2, edit.questioner)  # the same, written anew
    assert [comparable(op) for op in loaded(again.stem).operations] == [
        comparable(op) for op in migration.operations
    ]
    loader = MigrationLoader(None, ignore_no_migrations=True)
    after = loader.project_state((APP, path.stem), at_end=True)
    changes = MigrationAutodetector(after, edit.release2, Yes()).changes(
        graph=loader.graph, trim_to_apps={APP}
    )
    assert APP not in changes  # makemigrations --check has nothing to say


def sample(model_class, n: int) -> dict:
    """Values for the fields a row must be given."""
    values = {}
    for item in model_class._meta.concrete_fields:
        if item.primary_key or item.null or item.has_default():
            continue
        values[item.name] = n if isinstance(item, models.IntegerField) else f"v{n}"
    return values


def table_state() -> dict:
    tables = rows(
        "SELECT table_schema, table_name, column_name FROM information_schema.columns "
        "WHERE table_name LIKE 'bookshop_%%' ORDER BY 1, 2, ordinal_position"
    )
    return {"columns": tables, "compat": leftovers(), "rollouts": Rollout.objects.count()}


@pytest.mark.usefixtures("migrations_dir")
@pytest.mark.parametrize("edit", EDITS.values(), ids=EDITS.keys())
def test_the_written_migration_expands_rolls_back_and_completes(db, edit):
    (path,) = write(edit.release1, edit.release2, edit.questioner)
    migrate(APP, "0001_initial", database="legacy")  # release 1 runs as blue
    Legacy = model_at(APP, "0001_initial", edit.legacy).objects.using("legacy")
    Legacy.create(**sample(Legacy.model, 1))
    before = table_state()
    legacy_columns = columns(Legacy.model._meta.db_table)
    if edit.answers:
        with pytest.raises(UnfilledPlaceholder, match="still hold"):
            migrate(APP, path.stem)
        assert table_state() == before
        assert applied(APP) == ["0001_initial"]
        fill(path, *edit.answers)

    migrate(APP, path.stem)
    Legacy.create(**sample(Legacy.model, 2))
    expected = 2
    if edit.new:
        New = model_at(APP, path.stem, edit.new).objects.using("default")
        New.create(**sample(New.model, 3))
        expected = 3
        assert New.count() == expected  # each colour sees the other's rows
    assert Legacy.count() == expected

    compat("rollback")
    assert columns(Legacy.model._meta.db_table) == legacy_columns
    assert leftovers() == {}
    assert applied(APP) == ["0001_initial"]
    assert Legacy.count() == expected

    migrate(APP, path.stem)
    compat("complete")
    assert leftovers() == {}
    if edit.new:
        table = New.model._meta.db_table
        assert sorted(columns(table)) == sorted(f.column for f in New.model._meta.concrete_fields)
        assert New.count() == expected
    else:
        assert rows(
            "SELECT count(*) FROM pg_catalog.pg_tables WHERE tablename = %s",
            [Legacy.model._meta.db_table],
        ) == [(0,)]


@pytest.mark.usefixtures("migrations_dir")
def test_a_placeholder_stops_migrate_before_anything_of_the_plan_ran(db):
    edit = EDITS["remove-field"]
    (path,) = write(edit.release1, edit.release2)
    with pytest.raises(UnfilledPlaceholder) as raised:
        migrate(APP, path.stem)  # 0001_initial and the rollout, from nothing
    assert str(raised.value) == (
        "Migration(s) of this plan still hold(s) placeholders that makemigrations could not "
        "fill in:\n"
        f"  {APP}.{path.stem}: `down` of RemoveCompatColumn('book', 'price_cents'): SQL over "
        "the columns after this operation (id, isbn) giving the legacy colour's price_cents "
        "for rows the new release writes (integer), such as 0.\n"
        "Replace each compat_views.operations.FILL_IN(…) in the migration file with the SQL "
        "expression it asks for, as a string. Nothing was changed."
    )
    assert applied(APP) == []
    assert rows("SELECT count(*) FROM pg_catalog.pg_tables WHERE tablename = 'bookshop_book'") == [
        (0,)
    ]
    assert Rollout.objects.count() == 0
    migrate(APP, "0001_initial", database="legacy")  # release 1 runs as blue
    with pytest.raises(UnfilledPlaceholder, match="`down` of RemoveCompatColumn"):
        call_command("sqlmigrate", APP, path.stem)
