"""makemigrations' compat operations, decided on two ProjectStates with no database.

Each test describes release 1 and release 2 of a ``bookshop`` app and asserts the
operations the autodetector (Django's, with CompatAutodetectorMixin in front) writes
for the edit, and that each survives the migration writer.
"""

from __future__ import annotations

import io
import sys
import uuid

import django
import pytest
from django.core.management.base import OutputWrapper
from django.db import models
from django.db.migrations import SeparateDatabaseAndState
from django.db.migrations.autodetector import MigrationAutodetector
from django.db.migrations.loader import MigrationLoader
from django.db.migrations.operations import AddField, AlterField, CreateModel
from django.db.migrations.questioner import (
    InteractiveMigrationQuestioner,
    NonInteractiveMigrationQuestioner,
)
from django.db.migrations.state import ModelState, ProjectState
from django.db.migrations.writer import MigrationWriter

from compat_views.autodetector import compat_autodetector, sql_name
from compat_views.operations import (
    FILL_IN,
    AddCompatColumn,
    AlterCompatColumn,
    RemoveCompatColumn,
    RemoveCompatModel,
    RenameCompatColumn,
    RenameCompatModel,
)
from tests.autodetect_harness import APP, Yes, model, state


def detect(release1: ProjectState, release2: ProjectState, questioner=None):
    """The migrations makemigrations would write for the edit, by app."""
    autodetector = compat_autodetector(MigrationAutodetector)
    graph = MigrationLoader(None, ignore_no_migrations=True).graph
    return autodetector(release1.clone(), release2.clone(), questioner or Yes()).changes(
        graph=graph
    )


def operations(release1, release2, questioner=None) -> list:
    (migration,) = detect(release1, release2, questioner)[APP]
    return migration.operations


def args(operation) -> dict:
    """deconstruct()'s keyword arguments, fields as their own deconstruct()."""
    return {
        key: value.deconstruct()[1:] if isinstance(value, models.Field) else value
        for key, value in operation.deconstruct()[2].items()
    }


def hint(value) -> str:
    assert isinstance(value, FILL_IN), value
    return str.__str__(value)


BOOK = {
    "isbn": models.CharField(max_length=20, unique=True),
    "title": models.CharField(max_length=200),
}


def test_rename_field_is_rename_compat_column():
    release1 = state(model(**BOOK))
    release2 = state(model(isbn=BOOK["isbn"], name=models.CharField(max_length=200)))
    assert [args(op) for op in operations(release1, release2)] == [
        {"model_name": "book", "old_name": "title", "new_name": "name"}
    ]
    assert isinstance(operations(release1, release2)[0], RenameCompatColumn)


@pytest.mark.parametrize(
    "old, new, up, down",
    [
        (models.IntegerField(), models.BigIntegerField(), "pages", "pages"),
        (models.SmallIntegerField(), models.IntegerField(), "pages", "pages"),
        (models.BigIntegerField(), models.IntegerField(), None, "pages"),
        (
            models.CharField(max_length=100),
            models.CharField(max_length=300),
            "pages",
            "left(pages, 100)",
        ),
        (models.CharField(max_length=100), models.TextField(), "pages", "left(pages, 100)"),
        (models.TextField(), models.CharField(max_length=50), None, "pages"),
        (models.IntegerField(), models.DecimalField(max_digits=12, decimal_places=2), None, None),
    ],
    ids=[
        "int-bigint",
        "smallint-int",
        "bigint-int",
        "varchar-longer",
        "varchar-text",
        "text-varchar",
        "int-numeric",
    ],
)
def test_alter_type_writes_the_safe_casts(old, new, up, down):
    """A widening is the value itself both ways (a legacy integer too narrow for a new
    value fails that write, naming the column), a legacy text is cut to its length;
    anything else is left to a person (None here)."""
    (operation,) = operations(state(model(pages=old)), state(model(pages=new)))
    assert isinstance(operation, AlterCompatColumn)
    assert args(operation)["field"] == new.deconstruct()[1:]
    for argument, expected in {"up": up, "down": down}.items():
        value = getattr(operation, argument)
        if expected is None:
            assert "pages" in hint(value)
        else:
            assert (type(value), value) == (str, expected)


def test_alter_without_a_safe_cast_leaves_placeholders_that_say_what_to_write():
    (operation,) = operations(
        state(model(isbn=BOOK["isbn"], pages=models.IntegerField())),
        state(model(isbn=BOOK["isbn"], pages=models.DecimalField(max_digits=12, decimal_places=2))),
    )
    assert hint(operation.up) == (
        "SQL over the columns before this operation (id, isbn, pages) giving the new pages "
        "for rows the legacy colour writes and for existing rows (numeric(12, 2)), such as "
        "pages::numeric(12, 2)."
    )
    assert hint(operation.down) == (
        "SQL over the columns after this operation (id, isbn, pages) giving the legacy "
        "colour's pages for rows the new release writes (integer), such as pages::integer."
    )


def test_not_null_with_a_default_coalesces():
    (operation,) = operations(
        state(model(note=models.TextField(null=True))),
        state(model(note=models.TextField(default="none"))),
    )
    assert (operation.up, operation.down) == ("COALESCE(note, 'none')", "note")


def test_not_null_with_a_one_off_default_puts_it_in_up_not_in_the_field():
    class OneOff(Yes):
        def ask_not_null_alteration(self, field_name, model_name):
            return 7

    (operation,) = operations(
        state(model(pages=models.IntegerField(null=True))),
        state(model(pages=models.BigIntegerField())),
        OneOff(),
    )
    assert (operation.up, operation.down) == ("COALESCE(pages, 7)", "pages")
    assert not operation.field.has_default()  # as AlterField(preserve_default=False) leaves it


def test_not_null_without_a_default_leaves_up_to_fill_in():
    questioner = NonInteractiveMigrationQuestioner(specified_apps={APP}, log=lambda message: None)
    (operation,) = operations(
        state(model(note=models.TextField(null=True))),
        state(model(note=models.TextField())),
        questioner,
    )
    assert "such as COALESCE(note, <value>)." in hint(operation.up)
    assert operation.down == "note"


def test_not_null_to_nullable_gives_the_legacy_colour_its_default():
    (operation,) = operations(
        state(model(pages=models.IntegerField(default=0))),
        state(model(pages=models.IntegerField(null=True))),
    )
    assert (operation.up, operation.down) == ("pages", "COALESCE(pages, 0)")
    (operation,) = operations(
        state(model(pages=models.IntegerField())),
        state(model(pages=models.IntegerField(null=True))),
    )
    assert "such as COALESCE(pages, <value>)." in hint(operation.down)


@pytest.mark.parametrize(
    "field, down",
    [
        (models.IntegerField(null=True), None),
        (models.IntegerField(default=0), None),  # the operation fills the default itself
        (models.UUIDField(default=uuid.uuid4), None),  # gen_random_uuid() for each row
        (models.IntegerField(), "such as 0."),
        (models.CharField(max_length=5, default=str.upper), "such as ''."),
    ],
    ids=["nullable", "constant", "uuid4", "no-default", "python-callable"],
)
def test_remove_field(field, down):
    (operation,) = operations(
        state(model(isbn=BOOK["isbn"], code=field)), state(model(isbn=BOOK["isbn"]))
    )
    assert isinstance(operation, RemoveCompatColumn)
    if down is None:
        assert args(operation) == {"model_name": "book", "name": "code"}
    else:
        assert hint(operation.down).startswith(
            "SQL over the columns after this operation (id, isbn) giving the legacy colour's "
            "code for rows the new release writes"
        )
        assert hint(operation.down).endswith(down)


def test_add_not_null_field():
    release1 = state(model(**BOOK))

    class OneOff(Yes):
        def ask_not_null_addition(self, field_name, model_name):
            return 1

    (operation,) = operations(
        release1, state(model(**BOOK, edition=models.SmallIntegerField())), OneOff()
    )
    assert isinstance(operation, AddCompatColumn)
    assert (operation.up, operation.field.has_default()) == ("1", False)
    (operation,) = operations(release1, state(model(**BOOK, stock=models.IntegerField(default=0))))
    assert (type(operation), operation.up) == (AddCompatColumn, None)  # the default serves
    (operation,) = operations(
        release1, state(model(**BOOK, code=models.CharField(max_length=9, default=str.upper)))
    )
    assert "such as ''." in hint(operation.up)


@pytest.mark.parametrize(
    "field",
    [
        lambda: models.IntegerField(null=True),
        pytest.param(
            lambda: models.IntegerField(db_default=0),
            marks=pytest.mark.skipif(django.VERSION < (5, 0), reason="db_default is 5.0+"),
        ),
        lambda: models.ManyToManyField("bookshop.Book"),
    ],
    ids=["nullable", "db_default", "many-to-many"],
)
def test_safe_additions_stay_plain(field):
    (operation,) = operations(state(model(**BOOK)), state(model(**BOOK, extra=field())))
    assert type(operation) is AddField


@pytest.mark.parametrize(
    "new",
    [
        models.CharField(max_length=200, verbose_name="book title"),
        models.CharField(max_length=200, help_text="as printed"),
        models.CharField(max_length=200, choices=[("a", "A")]),
        models.CharField(max_length=200, validators=[lambda value: None]),
        models.CharField(max_length=200, blank=True, default="x"),
    ],
    ids=["verbose_name", "help_text", "choices", "validators", "blank-default"],
)
def test_metadata_only_alterations_stay_plain(new):
    (operation,) = operations(state(model(**BOOK)), state(model(isbn=BOOK["isbn"], title=new)))
    assert type(operation) is AlterField


def test_a_new_model_stays_plain():
    release2 = state(
        model(**BOOK),
        model(
            "Shelf",
            label=models.CharField(max_length=10),
            book=models.ForeignKey("bookshop.Book", models.CASCADE),
        ),
    )
    (operation,) = operations(state(model(**BOOK)), release2)
    assert type(operation) is CreateModel


def test_rename_model_and_delete_model():
    author = model("Author", name=models.CharField(max_length=100))
    release1 = state(model(**BOOK), author)
    release2 = state(model(**BOOK), model("Writer", name=models.CharField(max_length=100)))
    (operation,) = operations(release1, release2)
    assert (type(operation), args(operation)) == (
        RenameCompatModel,
        {"old_name": "Author", "new_name": "Writer"},
    )
    (operation,) = operations(release1, state(model(**BOOK)))
    assert (type(operation), args(operation)) == (RemoveCompatModel, {"name": "Author"})


def test_deleting_a_model_with_foreign_keys_changes_no_column_of_it():
    """Django removes a deleted model's foreign keys first; those tables stay whole for the
    legacy colour until complete, so the removals change only Django's state."""
    release1 = state(
        model(**BOOK),
        model("Shelf", book=models.ForeignKey("bookshop.Book", models.CASCADE)),
        model("Loan", shelf=models.ForeignKey("bookshop.Shelf", models.CASCADE)),
    )
    found = operations(release1, state(model(**BOOK)))
    plain = [op for op in found if not isinstance(op, RemoveCompatModel)]
    assert sorted(op.name for op in found if isinstance(op, RemoveCompatModel)) == ["Loan", "Shelf"]
    assert all(
        isinstance(op, SeparateDatabaseAndState) and not op.database_operations for op in plain
    )


def test_several_edits_on_one_model():
    release1 = state(
        model(
            **BOOK,
            pages=models.IntegerField(default=0),
            price_cents=models.IntegerField(),
            note=models.TextField(null=True),
        )
    )
    release2 = state(
        model(
            isbn=BOOK["isbn"],
            name=models.CharField(max_length=200),
            pages=models.BigIntegerField(default=0),
            note=models.TextField(null=True, help_text="free text"),
            stock=models.IntegerField(default=0),
        )
    )
    found = operations(release1, release2)
    assert [
        (type(op).__name__, getattr(op, "name", getattr(op, "old_name", None))) for op in found
    ] == [
        ("RenameCompatColumn", "title"),
        ("AddCompatColumn", "stock"),
        ("RemoveCompatColumn", "price_cents"),
        ("AlterField", "note"),
        ("AlterCompatColumn", "pages"),
    ]


def test_compat_migrations_depend_on_compat_views_and_plain_ones_do_not():
    (migration,) = detect(state(model(**BOOK)), state(model(isbn=BOOK["isbn"])))[APP]
    assert [app for app, _ in migration.dependencies if app != APP] == ["compat_views"]
    (migration,) = detect(
        state(model(**BOOK)), state(model(**BOOK, n=models.IntegerField(null=True)))
    )[APP]
    assert [app for app, _ in migration.dependencies if app != APP] == []


def test_a_questioner_that_answers_fills_the_expression_in():
    asked = []

    class Answers(Yes):
        def ask_compat_expression(self, question):
            asked.append((question.what, question.argument, question.columns, question.type))
            return "round(price * 100)" if question.argument == "down" else ""

    (operation,) = operations(
        state(model(price_cents=models.IntegerField())), state(model()), Answers()
    )
    assert operation.down == "round(price * 100)"
    assert asked == [("RemoveCompatColumn('book', 'price_cents')", "down", ("id",), "integer")]


@pytest.mark.parametrize("answer", ["", "left(label, 20)"], ids=["empty", "answered"])
def test_interactive_makemigrations_prompts_for_what_it_cannot_write(monkeypatch, answer):
    """Like Django's one-off default prompt; an empty answer leaves the placeholder."""
    prompts = io.StringIO()
    questioner = InteractiveMigrationQuestioner(
        specified_apps={APP}, prompt_output=OutputWrapper(prompts)
    )
    monkeypatch.setattr(sys, "stdin", io.StringIO(f"y\n{answer}\n"))  # a rename, then `up`
    release1 = state(model(title=models.TextField(null=True), label=models.TextField()))
    release2 = state(model(name=models.TextField(null=True), label=models.CharField(max_length=20)))
    found = operations(release1, release2, questioner)
    assert [type(op) for op in found] == [RenameCompatColumn, AlterCompatColumn]
    assert (found[1].up if answer else hint(found[1].up)) == (
        answer
        or "SQL over the columns before this operation (id, label, name) giving the new "
        "label for rows the legacy colour writes and for existing rows (varchar(20)), such "
        "as left(label, 20)."
    )
    assert found[1].down == "label"
    assert prompts.getvalue().endswith(
        "AlterCompatColumn('book', 'label') needs `up`: SQL over the columns before this "
        "operation (id, label, name) giving the new label for rows the legacy colour writes "
        "and for existing rows (varchar(20)), such as left(label, 20).\nEnter that SQL "
        "expression, or nothing to leave a placeholder to fill in before migrate.\n>>> "
    )


@pytest.mark.parametrize(
    "column, spelled",
    [("pages", "pages"), ("order", '"order"'), ("time", '"time"'), ("Pages", '"Pages"')],
)
def test_column_names_are_quoted_where_sql_needs_it(column, spelled):
    assert sql_name(column) == spelled


def round_trip(operation):
    """The operation as the migration writer writes it, read back."""
    text, imports = MigrationWriter.serialize(operation)
    namespace: dict = {}
    exec("\n".join(sorted(imports)) + f"\nresult = {text}", namespace)
    return namespace["result"], text


def test_placeholders_round_trip_through_the_migration_writer():
    (operation,) = operations(state(model(price_cents=models.IntegerField())), state(model()))
    read, text = round_trip(operation)
    assert "compat_views.operations.FILL_IN(" in text
    assert type(read.down) is FILL_IN
    assert args(read) == args(operation)


def test_a_new_column_name_is_an_alter_that_copies_both_ways():
    (operation,) = operations(
        state(model(isbn=BOOK["isbn"], title=models.CharField(max_length=200))),
        state(model(isbn=BOOK["isbn"], title=models.CharField(max_length=200, db_column="name"))),
    )
    assert (type(operation), operation.up, operation.down) == (AlterCompatColumn, "title", "name")


def test_unmanaged_and_proxy_models_stay_plain():
    release1 = state(
        model(**BOOK),
        ModelState(
            APP, "Legacy", [("id", models.BigAutoField(primary_key=True))], {"managed": False}
        ),
        ModelState(APP, "Paperback", [], {"proxy": True}, bases=("bookshop.book",)),
    )
    found = operations(release1, state(model(**BOOK)))
    assert sorted(type(op).__name__ for op in found) == ["DeleteModel", "DeleteModel"]
