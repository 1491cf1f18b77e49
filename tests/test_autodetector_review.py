"""Model edits an adversarial review of makemigrations' compat operations found broken.

One test per edit, named after it: what makemigrations writes for it, and where the
break showed on a real database, that the written migration now serves the legacy
colour through the rollout.
"""

from __future__ import annotations

import django
import pytest
from django.db import models
from django.db.migrations.operations import AddField, AlterField, CreateModel, RenameModel
from django.db.migrations.questioner import NonInteractiveMigrationQuestioner

from compat_views.operations import (
    FILL_IN,
    AddCompatColumn,
    AlterCompatColumn,
    RemoveCompatColumn,
    RemoveCompatModel,
    RenameCompatColumn,
    RenameCompatModel,
)
from tests.autodetect_harness import APP, Yes, fill, migrations_dir, model, state, write  # noqa: F401
from tests.harness import apps_at, columns, compat, leftovers, migrate, model_at, rows
from tests.test_autodetect_lifecycle import loaded
from tests.test_autodetect_makemigrations import RELEASE2, make, release1_only
from tests.test_autodetector import operations

ISBN = models.CharField(max_length=20, unique=True)
needs_db_default = pytest.mark.skipif(
    django.VERSION < (5, 0), reason="db_default and GeneratedField are 5.0+"
)


@needs_db_default
def test_null_to_not_null_with_a_db_default_coalesces_to_it():
    """Django 5.1+ keeps a constant db_default as given, not wrapped in Value."""
    (operation,) = operations(
        state(model(n=models.IntegerField(null=True))),
        state(model(n=models.IntegerField(db_default=3))),
    )
    assert (type(operation), operation.up, operation.down) == (
        AlterCompatColumn,
        "COALESCE(n, 3)",
        "n",
    )
    (operation,) = operations(
        state(model(n=models.IntegerField(db_default=3))),
        state(model(n=models.IntegerField(null=True, db_default=3))),
    )
    assert (operation.up, operation.down) == ("n", "COALESCE(n, 3)")


def author_and_book(code_length: int):
    code = models.CharField(max_length=code_length, unique=True)
    book = models.ForeignKey("bookshop.Author", models.CASCADE, to_field="code")
    return state(model("Author", code=code), model(isbn=ISBN, author=book))


@pytest.mark.usefixtures("migrations_dir")
def test_widening_a_column_foreign_keys_reference_stays_a_plain_alter_field(db):
    """AlterCompatColumn refuses such a column at migrate ("change it in a plain
    migration"): makemigrations must not write one."""
    (path,) = write(author_and_book(10), author_and_book(20))
    migrate(APP, "0001_initial", database="legacy")
    migrate(APP, path.stem)
    (operation,) = loaded(path.stem).operations
    assert type(operation) is AlterField
    assert rows(
        "SELECT table_name, character_maximum_length FROM information_schema.columns "
        "WHERE column_name IN ('code', 'author_id') ORDER BY 1"
    ) == [("bookshop_author", 20), ("bookshop_book", 20)]


@needs_db_default
@pytest.mark.usefixtures("migrations_dir")
def test_removing_a_db_default_keeps_it_for_the_legacy_colour(db):
    """The legacy colour's INSERTs leave the column out; a plain AlterField drops the
    default under them and their rows fail NOT NULL."""
    (path,) = write(
        state(model(isbn=ISBN, n=models.IntegerField(db_default=3))),
        state(model(isbn=ISBN, n=models.IntegerField())),
    )
    (operation,) = loaded(path.stem).operations
    assert (type(operation), operation.up, operation.down) == (AlterCompatColumn, "n", "n")
    migrate(APP, "0001_initial", database="legacy")
    Legacy = model_at(APP, "0001_initial", "Book").objects.using("legacy")
    Legacy.create(isbn="1")
    migrate(APP, path.stem)
    Legacy.create(isbn="2")
    New = model_at(APP, path.stem, "Book").objects.using("default")
    New.create(isbn="3", n=5)
    assert list(New.order_by("isbn").values_list("n", flat=True)) == [3, 3, 5]
    compat("complete")
    assert leftovers() == {}
    assert rows(
        "SELECT column_default FROM information_schema.columns "
        "WHERE table_name = 'bookshop_book' AND column_name = 'n'"
    ) == [(None,)]


@pytest.mark.usefixtures("migrations_dir")
def test_rename_and_alter_of_one_field_in_one_release_keeps_its_values(db):
    """Django sees a field renamed and changed at once as a removal and an addition; in
    its order (removal first) neither expression can read the other column, so complete
    would drop the old column's values. Added first, both can."""
    (path,) = write(
        state(model(isbn=ISBN, title=models.CharField(max_length=100))),
        state(model(isbn=ISBN, name=models.CharField(max_length=300))),
    )
    add, remove = loaded(path.stem).operations
    assert (type(add), type(remove)) == (AddCompatColumn, RemoveCompatColumn)
    assert "columns before this operation (id, isbn, title)" in str.__str__(add.up)
    assert "columns after this operation (id, isbn, name)" in str.__str__(remove.down)
    fill(path, "title", "left(name, 100)")
    migrate(APP, "0001_initial", database="legacy")
    Legacy = model_at(APP, "0001_initial", "Book").objects.using("legacy")
    Legacy.create(isbn="1", title="Dune")
    migrate(APP, path.stem)
    New = model_at(APP, path.stem, "Book").objects.using("default")
    New.create(isbn="2", name="E" * 150)
    Legacy.create(isbn="3", title="Emma")
    assert list(New.order_by("isbn").values_list("name", flat=True)) == ["Dune", "E" * 150, "Emma"]
    assert Legacy.get(isbn="2").title == "E" * 100

    compat("rollback")
    assert columns("bookshop_book") == ["id", "isbn", "title"]
    migrate(APP, path.stem)
    compat("complete")
    assert leftovers() == {}
    assert rows("SELECT isbn, name FROM bookshop_book ORDER BY isbn") == [
        ("1", "Dune"),
        ("2", "E" * 100),  # rollback kept the legacy colour's copy
        ("3", "Emma"),
    ]


@pytest.mark.usefixtures("db", "migrations_dir")  # makemigrations checks the history
def test_interactive_makemigrations_with_stdin_closed_leaves_a_placeholder(settings, monkeypatch):
    """Django only asks its own questions; the `down` prompt of a removal found stdin at
    its end (a script without --noinput) and makemigrations died of EOFError."""
    settings.COMPAT_VIEWS_AUTODETECTOR = True
    release1_only()
    printed = make(monkeypatch, answers="y\n1\n1\n")  # Django's questions, not ours
    assert "RemoveCompatColumn('book', 'price_cents') needs `down`" in printed
    remove = loaded(RELEASE2).operations[2]
    assert isinstance(remove, RemoveCompatColumn)
    assert isinstance(remove.down, FILL_IN)


def with_generated(**fields):
    plus_one = models.GeneratedField(
        expression=models.F("a") + 1, output_field=models.IntegerField(), db_persist=True
    )
    return state(model(isbn=ISBN, a=models.IntegerField(), **fields, b=plus_one))


@needs_db_default
@pytest.mark.usefixtures("migrations_dir")
def test_adding_a_generated_field_stays_a_plain_add_field(db):
    """AddCompatColumn refuses a GeneratedField (adding one rewrites the table, which no
    rollout does); makemigrations wrote one anyway, with up="''" for an integer."""
    (path,) = write(state(model(isbn=ISBN, a=models.IntegerField())), with_generated())
    (operation,) = loaded(path.stem).operations
    assert type(operation) is AddField
    migrate(APP, "0001_initial", database="legacy")
    migrate(APP, path.stem)
    model_at(APP, "0001_initial", "Book").objects.using("legacy").create(isbn="1", a=1)
    assert rows("SELECT b FROM bookshop_book") == [(2,)]


@needs_db_default
@pytest.mark.usefixtures("migrations_dir")
def test_removing_a_generated_field_asks_for_no_down(db):
    """PostgreSQL computes the retained column for the new colour's rows; a `down` for it
    is refused at migrate, and makemigrations asked for one."""
    (path,) = write(with_generated(), state(model(isbn=ISBN, a=models.IntegerField())))
    (operation,) = loaded(path.stem).operations
    assert (type(operation), operation.down) == (RemoveCompatColumn, None)
    migrate(APP, "0001_initial", database="legacy")
    Legacy = model_at(APP, "0001_initial", "Book").objects.using("legacy")
    Legacy.create(isbn="1", a=1)
    migrate(APP, path.stem)
    model_at(APP, path.stem, "Book").objects.using("default").create(isbn="2", a=2)
    assert list(Legacy.order_by("isbn").values_list("b", flat=True)) == [2, 3]
    compat("rollback")
    migrate(APP, path.stem)
    compat("complete")
    assert (leftovers(), columns("bookshop_book")) == ({}, ["id", "isbn", "a"])


class OneOff(Yes):
    """Answers Django's one-off default questions with ``value``."""

    def __init__(self, value):
        super().__init__()
        self.value = value

    def ask_not_null_addition(self, field_name, model_name):
        return self.value


@pytest.mark.usefixtures("migrations_dir")
def test_adding_a_not_null_foreign_key_with_a_one_off_default_writes_it_as_up(db):
    """A state's foreign key cannot prepare a value (its target is a lazy reference), so
    the one-off default Django had asked for became a placeholder asking again."""
    author = model("Author", name=models.CharField(max_length=100))
    book = models.ForeignKey("bookshop.Author", models.CASCADE)
    (path,) = write(
        state(author, model(isbn=ISBN)), state(author, model(isbn=ISBN, author=book)), OneOff(1)
    )
    (operation,) = loaded(path.stem).operations
    assert (type(operation), operation.up) == (AddCompatColumn, "1")
    migrate(APP, "0001_initial", database="legacy")
    legacy = apps_at(APP, "0001_initial")
    legacy.get_model(APP, "Author").objects.using("legacy").create(name="Herbert")
    legacy.get_model(APP, "Book").objects.using("legacy").create(isbn="1")
    migrate(APP, path.stem)
    legacy.get_model(APP, "Book").objects.using("legacy").create(isbn="2")
    assert rows("SELECT isbn, author_id FROM bookshop_book ORDER BY isbn") == [("1", 1), ("2", 1)]
    compat("complete")
    assert leftovers() == {}


@pytest.mark.usefixtures("migrations_dir")
def test_rename_model_and_one_of_its_fields_at_once_is_a_rename(db):
    """Django compared the two models' field definitions in the order of the field names,
    so renaming one of the fields hid the model rename: CreateModel + RemoveCompatModel,
    and complete dropped the old table with its rows."""
    (path,) = write(
        state(model("Author", name=models.CharField(max_length=100))),
        state(model("Writer", full_name=models.CharField(max_length=100))),
    )
    found = loaded(path.stem).operations
    assert [type(op) for op in found] == [RenameCompatModel, RenameCompatColumn]
    assert (found[1].model_name, found[1].old_name, found[1].new_name) == (
        "writer",
        "name",
        "full_name",
    )
    migrate(APP, "0001_initial", database="legacy")
    legacy = apps_at(APP, "0001_initial").get_model(APP, "Author").objects.using("legacy")
    legacy.create(name="Herbert")
    migrate(APP, path.stem)
    legacy.create(name="Ursula")
    assert rows("SELECT full_name FROM bookshop_writer ORDER BY id") == [("Herbert",), ("Ursula",)]
    compat("complete")
    assert leftovers() == {}


def tagged(tag: str, book: str = "Book"):
    return state(
        model(tag, name=models.CharField(max_length=100)),
        model(book, isbn=ISBN, tags=models.ManyToManyField(f"bookshop.{tag}")),
    )


@pytest.mark.usefixtures("migrations_dir")
def test_renaming_a_model_a_many_to_many_table_is_named_after_stays_a_plain_rename_model(db):
    """RenameCompatModel refuses such a model at migrate ("rename the model in a plain
    migration"): Django renames the table or its column with it. compat check flags the
    plain one."""
    (operation,) = operations(tagged("Tag", "Book"), tagged("Tag", "Volume"))  # its own field
    assert type(operation) is RenameModel
    (path,) = write(tagged("Tag"), tagged("Label"))  # a field pointing at it
    (operation,) = loaded(path.stem).operations
    assert type(operation) is RenameModel
    migrate(APP, "0001_initial", database="legacy")
    migrate(APP, path.stem)
    assert columns("bookshop_book_tags") == ["id", "book_id", "label_id"]


def test_a_model_removed_while_another_is_created_warns_that_a_rename_moves_no_rows():
    """The case above, until makemigrations asks about it: one clear warning with the way
    out, where makemigrations prints (its log without --interactive)."""
    printed: list[str] = []
    found = operations(
        state(model("Author", name=models.CharField(max_length=100))),
        state(model("Writer", full_name=models.CharField(max_length=100))),
        NonInteractiveMigrationQuestioner(log=printed.append),
    )
    assert [type(op) for op in found] == [CreateModel, RemoveCompatModel]
    (warning,) = printed
    assert "bookshop.Author is removed and writer created" in warning
    assert "rename the model alone and run makemigrations" in warning
