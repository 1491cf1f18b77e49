"""``safety.judge`` on its own: each plain operation kind, breaking and safe, without a database.

The release still serving is modelled as the state after ``0001`` (a ``Book`` and an
``Author`` table it reads and writes); each test judges one migration ``0002`` from
there. The connection only renders column types: it is never opened.
"""

from __future__ import annotations

import django
import pytest
from django.contrib.postgres.operations import (
    AddConstraintNotValid,
    AddIndexConcurrently,
    ValidateConstraint,
)
from django.db import migrations, models
from django.db.migrations.state import ProjectState
from django.db.utils import ConnectionHandler

from compat_views.operations import (
    AddCompatColumn,
    AlterCompatColumn,
    RemoveCompatColumn,
    RemoveCompatModel,
    RenameCompatColumn,
    RenameCompatModel,
)
from compat_views.safety import Finding, describe, judge, render

CONNECTION = ConnectionHandler(
    {"default": {"ENGINE": "django.db.backends.postgresql", "NAME": "never_opened"}}
)["default"]
ID = ("id", models.BigAutoField(primary_key=True))
AUTHOR = migrations.CreateModel("Author", [ID, ("name", models.CharField(max_length=100))])
BOOK = migrations.CreateModel(
    "Book",
    [
        ID,
        ("title", models.CharField(max_length=100)),
        ("pages", models.IntegerField(null=True)),
        ("stock", models.IntegerField(default=0)),
        ("isbn", models.CharField(max_length=20)),
    ],
)
CONDITION = "condition" if django.VERSION >= (5, 1) else "check"


def migration(name: str, *operations, app: str = "shop") -> migrations.Migration:
    made = migrations.Migration(name, app)
    made.operations = list(operations)
    return made


def serving(*operations) -> ProjectState:
    """The state the release still serving has: ``0001`` applied."""
    return judge(
        migration("0001_initial", *operations), ProjectState(), connection=CONNECTION
    ).state


def findings(*operations, state=None, fresh=(), app: str = "shop") -> list[Finding]:
    state = serving(AUTHOR, BOOK) if state is None else state
    return judge(
        migration("0002_next", *operations, app=app), state, connection=CONNECTION, fresh=fresh
    ).findings


def breaking(*operations, **kwargs) -> list[Finding]:
    found = findings(*operations, **kwargs)
    assert all(f.breaking for f in found), found
    return found


def check_constraint(name: str, **lookup) -> models.CheckConstraint:
    return models.CheckConstraint(**{CONDITION: models.Q(**lookup)}, name=name)


# (operation, words of the problem, words of what to use instead)
BREAKING = [
    (
        migrations.RenameField("book", "title", "name"),
        'renames column "title" of "shop_book" to "name"',
        "Use RenameCompatColumn('book', 'title', 'name')",
    ),
    (
        migrations.RemoveField("book", "pages"),
        'drops column "pages" of "shop_book"',
        "Use RemoveCompatColumn('book', 'pages')",
    ),
    (
        migrations.RemoveField("book", "isbn"),  # NOT NULL, no default: legacy rows need down
        'drops column "isbn"',
        "Use RemoveCompatColumn('book', 'isbn', down=…)",
    ),
    (
        migrations.AlterField("book", "pages", models.BigIntegerField(null=True)),
        'changes the type of column "pages" of "shop_book" from integer to bigint',
        "Use AlterCompatColumn('book', 'pages', models.BigIntegerField(null=True), up=…, down=…)",
    ),
    (
        migrations.AlterField("book", "title", models.CharField(max_length=50)),
        "from varchar(100) to varchar(50)",
        "AlterCompatColumn",
    ),
    (
        migrations.AlterField("book", "pages", models.IntegerField(default=0)),
        'makes column "pages" of "shop_book" NOT NULL',
        "AlterCompatColumn",
    ),
    (
        migrations.AlterField("book", "stock", models.IntegerField(null=True)),
        'makes column "stock" of "shop_book" nullable',
        "down gives the legacy colour a value for NULL",
    ),
    (
        migrations.AlterField("book", "stock", models.PositiveIntegerField(default=0)),
        "adds CHECK",
        "AlterCompatColumn",
    ),
    (
        migrations.AlterField("book", "isbn", models.CharField(max_length=20, unique=True)),
        'builds a unique index on column "isbn" of "shop_book" by ALTER TABLE … ADD CONSTRAINT',
        "CREATE UNIQUE INDEX CONCURRENTLY",
    ),
    (
        migrations.AlterField("book", "isbn", models.CharField(max_length=20, db_index=True)),
        'builds an index on column "isbn"',
        "CREATE INDEX CONCURRENTLY",
    ),
    (
        migrations.AlterField("book", "title", models.CharField(max_length=100, db_column="t")),
        'renames column "title" of "shop_book" to "t"',
        "No compat operation does this",
    ),
    (
        migrations.AddField("book", "price", models.IntegerField(default=0)),
        'adds NOT NULL column "price" to "shop_book" without a database default',
        "Use AddCompatColumn('book', 'price', models.IntegerField(default=0), up=…)",
    ),
    (
        migrations.AddField("book", "code", models.CharField(max_length=9, null=True, unique=True)),
        'adds column "code" to "shop_book" with a unique index built by ALTER TABLE … ADD COLUMN',
        "which builds the index CONCURRENTLY",
    ),
    (
        migrations.AddField("book", "shelf", models.IntegerField(null=True, db_index=True)),
        'adds column "shelf" to "shop_book" with an index built by CREATE INDEX',
        "AddCompatColumn",
    ),
    (
        migrations.AddIndex("book", models.Index(fields=["title"], name="book_title_ix")),
        'builds index "book_title_ix" on "shop_book" by CREATE INDEX',
        "Use AddIndexConcurrently('book', models.Index(fields=['title'], name='book_title_ix'))",
    ),
    (
        migrations.AddConstraint("book", check_constraint("stock_pos", stock__gte=0)),
        'adds CHECK constraint "stock_pos" to "shop_book"',
        "ValidateConstraint('book', 'stock_pos') in a later migration",
    ),
    (
        migrations.AddConstraint("book", models.UniqueConstraint(fields=["isbn"], name="isbn_uq")),
        'adds unique constraint "isbn_uq" to "shop_book"',
        "CREATE UNIQUE INDEX CONCURRENTLY",
    ),
    (
        migrations.AlterUniqueTogether("book", {("title", "isbn")}),
        "adds unique_together ('title', 'isbn') to \"shop_book\"",
        "CREATE UNIQUE INDEX CONCURRENTLY",
    ),
    (
        migrations.DeleteModel("Book"),
        'drops table "shop_book"',
        "Use RemoveCompatModel('Book')",
    ),
    (
        migrations.RenameModel("Book", "Volume"),
        'renames table "shop_book" to "shop_volume"',
        "Use RenameCompatModel('Book', 'Volume')",
    ),
    (
        migrations.AlterModelTable("book", "books"),
        'renames table "shop_book" to "books"',
        "No compat operation does this",
    ),
    (
        migrations.AlterOrderWithRespectTo("book", "title"),
        'adds NOT NULL column "_order"',
        "No compat operation does this",
    ),
]


@pytest.mark.parametrize(
    ("operation", "problem", "instead"), BREAKING, ids=lambda v: getattr(v, "describe", str)()
)
def test_breaking_operations_name_the_problem_and_what_to_use(operation, problem, instead):
    (found,) = breaking(operation)
    assert problem in found.problem
    assert instead in found.instead
    assert (found.app_label, found.migration) == ("shop", "0002_next")
    assert str(found).startswith(f"shop.0002_next: {describe(operation)} {found.problem}")


def test_a_foreign_key_column_on_an_existing_table_is_blocking():
    add = migrations.AddField(
        "book", "author", models.ForeignKey("shop.Author", models.CASCADE, null=True)
    )
    (found,) = breaking(add)
    assert 'adds a foreign key from "shop_book"."author_id" to "shop_author"' in found.problem
    assert "AddCompatColumn('book', 'author', models.ForeignKey(" in found.instead
    assert "NOT VALID" in found.instead


def test_altering_a_column_into_a_foreign_key_names_the_constraint_and_the_index():
    alter = migrations.AlterField(
        "book", "stock", models.ForeignKey("shop.Author", models.CASCADE, db_column="stock")
    )
    problems = [f.problem for f in breaking(alter)]
    assert any("adds a foreign key" in p and '"shop_author"' in p for p in problems), problems
    assert any("builds an index" in p for p in problems), problems


def test_one_operation_can_break_in_several_ways():
    alter = migrations.AlterField("book", "pages", models.BigIntegerField(default=0))
    assert [f.problem.split(":")[0] for f in breaking(alter)] == [
        'changes the type of column "pages" of "shop_book" from integer to bigint',
        'makes column "pages" of "shop_book" NOT NULL',
    ]


SAFE = [
    migrations.AddField("book", "note", models.TextField(null=True)),
    migrations.AddField("book", "tags", models.ManyToManyField("shop.Author")),
    migrations.AlterField("book", "title", models.CharField(max_length=100, help_text="shown")),
    migrations.AlterField("book", "stock", models.IntegerField(default=5)),
    migrations.AlterField("book", "title", models.CharField(max_length=200)),  # longer varchar
    migrations.AlterField("book", "title", models.TextField()),
    migrations.AlterModelOptions("book", {"ordering": ["title"]}),
    migrations.CreateModel("Shelf", [ID, ("label", models.CharField(max_length=10))]),
    migrations.RemoveIndex("book", "whatever_ix"),
    migrations.RemoveConstraint("book", "whatever_uq"),
    migrations.AlterUniqueTogether("book", set()),
    AddIndexConcurrently("book", models.Index(fields=["title"], name="book_title_ix")),
    AddConstraintNotValid("book", check_constraint("stock_pos", stock__gte=0)),
    ValidateConstraint("book", "stock_pos"),
    migrations.RunSQL(migrations.RunSQL.noop),
    migrations.RunPython(migrations.RunPython.noop),
    AddCompatColumn("book", "price", models.IntegerField(default=0)),
    RenameCompatColumn("book", "title", "name"),
    AlterCompatColumn("book", "pages", models.BigIntegerField(null=True), up="pages", down="pages"),
    RemoveCompatColumn("book", "pages"),
    RenameCompatModel("Book", "Volume"),
    RemoveCompatModel("Book"),
]


@pytest.mark.parametrize("operation", SAFE, ids=lambda op: op.describe())
def test_safe_operations_are_not_reported(operation):
    assert findings(operation) == []


@pytest.mark.skipif(django.VERSION < (5, 0), reason="db_default is new in Django 5.0")
def test_a_not_null_column_with_a_database_default_is_safe():
    assert findings(migrations.AddField("book", "price", models.IntegerField(db_default=0))) == []


def test_a_model_with_its_own_db_table_renames_nothing():
    pinned = migrations.CreateModel("Book", [ID], options={"db_table": "books"})
    assert findings(migrations.RenameModel("Book", "Volume"), state=serving(pinned)) == []


def test_renaming_a_model_with_many_to_many_tables_has_no_compat_alternative():
    tagged = migrations.CreateModel(
        "Book", [ID, ("authors", models.ManyToManyField("shop.Author"))]
    )
    (found,) = breaking(migrations.RenameModel("Book", "Volume"), state=serving(AUTHOR, tagged))
    assert '"shop_book_authors"' in found.problem
    assert "RenameCompatModel refuses" in found.instead


def test_removing_a_many_to_many_field_drops_its_table():
    tagged = migrations.CreateModel(
        "Book", [ID, ("authors", models.ManyToManyField("shop.Author"))]
    )
    (found,) = breaking(migrations.RemoveField("book", "authors"), state=serving(AUTHOR, tagged))
    assert found.problem.startswith('drops table "shop_book_authors"')


def test_a_table_created_earlier_in_the_plan_is_new_to_the_serving_release():
    create = migration("0002_shelf", migrations.CreateModel("Shelf", [ID]))
    after = judge(create, serving(AUTHOR, BOOK), connection=CONNECTION)
    assert after.findings == [] and "shop_shelf" in after.fresh
    later = [
        migrations.AddField("shelf", "label", models.CharField(max_length=9)),
        migrations.AddIndex("shelf", models.Index(fields=["label"], name="shelf_label_ix")),
        migrations.RenameField("shelf", "label", "name"),
        migrations.RenameModel("Shelf", "Rack"),
        migrations.AddField("rack", "size", models.IntegerField()),  # renamed, still new
        migrations.DeleteModel("Rack"),
    ]
    third = migration("0003_more", *later)
    assert judge(third, after.state, connection=CONNECTION, fresh=after.fresh).findings == []
    # Without the plan's memory (applied in an earlier release), each is breaking but the
    # RenameField: its column is the one the AddField before it added.
    assert len(judge(third, after.state, connection=CONNECTION).findings) == len(later) - 1


def test_operations_on_a_model_created_in_the_same_migration_are_safe():
    assert (
        findings(
            migrations.CreateModel("Shelf", [ID, ("label", models.CharField(max_length=9))]),
            migrations.AddIndex("shelf", models.Index(fields=["label"], name="shelf_label_ix")),
            migrations.AddField("shelf", "size", models.IntegerField()),
        )
        == []
    )


def test_the_fresh_tables_are_tables_not_models_of_one_app():
    assert findings(migrations.RemoveField("book", "pages"), fresh={"other_book"}) != []
    assert findings(migrations.RemoveField("book", "pages"), fresh={"shop_book"}) == []


def test_migrations_of_compat_views_itself_are_not_judged():
    state = serving(AUTHOR, BOOK)
    state = judge(
        migration("0001_initial", migrations.CreateModel("Thing", [ID]), app="compat_views"),
        state,
        connection=CONNECTION,
    ).state
    judged = judge(
        migration("0002_x", migrations.DeleteModel("Thing"), app="compat_views"),
        state,
        connection=CONNECTION,
    )
    assert judged.findings == []
    assert ("compat_views", "thing") not in judged.state.models


def test_unmanaged_and_proxy_models_have_no_table_to_break():
    external = migrations.CreateModel(
        "External", [ID, ("code", models.IntegerField())], options={"managed": False}
    )
    proxy = migrations.CreateModel("Special", [], options={"proxy": True}, bases=("shop.book",))
    state = serving(AUTHOR, BOOK, external, proxy)
    assert findings(migrations.RemoveField("external", "code"), state=state) == []
    assert findings(migrations.DeleteModel("External"), state=state) == []
    assert findings(migrations.DeleteModel("Special"), state=state) == []


def test_wrapped_operations_are_judged_by_what_runs_on_the_database():
    wrapped = migrations.SeparateDatabaseAndState(
        database_operations=[migrations.RemoveField("book", "pages")],
        state_operations=[migrations.RemoveField("book", "pages")],
    )
    (found,) = breaking(wrapped)
    assert found.operation == "RemoveField('book', 'pages')"
    state_only = migrations.SeparateDatabaseAndState(
        state_operations=[migrations.RenameField("book", "title", "name")]
    )
    assert findings(state_only) == []
    # The state moves by the state operations: the next operation sees the renamed field.
    assert "RenameCompatColumn('book', 'name', 'label')" in (
        breaking(state_only, migrations.RenameField("book", "name", "label"))[0].instead
    )


def test_compat_operations_inside_separate_database_and_state_are_not_reported():
    wrapped = migrations.SeparateDatabaseAndState(
        database_operations=[RenameCompatColumn("book", "title", "name")],
        state_operations=[migrations.RenameField("book", "title", "name")],
    )
    assert findings(wrapped) == []


@pytest.mark.parametrize(
    ("sql", "words"),
    [
        ("ALTER TABLE shop_book DROP COLUMN pages", "DROP TABLE/COLUMN/VIEW"),
        ('ALTER TABLE shop_book RENAME COLUMN "title" TO "name"', "RENAME"),
        ("ALTER TABLE shop_book ALTER COLUMN pages TYPE bigint", "ALTER … TYPE"),
        ("ALTER TABLE shop_book ALTER pages SET NOT NULL", "SET NOT NULL"),
        (["CREATE INDEX b_ix ON shop_book (title)"], "CREATE INDEX without CONCURRENTLY"),
        (
            [("ALTER TABLE shop_book ADD CONSTRAINT c CHECK (stock > %s)", [0])],
            "ADD CONSTRAINT without NOT VALID",
        ),
    ],
)
def test_run_sql_is_not_judged_but_suspicious_words_are_named(sql, words):
    (found,) = findings(migrations.RunSQL(sql))
    assert not found.breaking
    assert found.problem == f"runs SQL that mentions {words}, which compat check does not judge"
    assert "Check by hand" in found.instead


@pytest.mark.parametrize(
    "sql",
    [
        "CREATE INDEX CONCURRENTLY b_ix ON shop_book (title)",
        "ALTER TABLE shop_book ADD CONSTRAINT c CHECK (stock > 0) NOT VALID",
        "UPDATE shop_book SET stock = 0 WHERE stock IS NULL",
    ],
)
def test_run_sql_without_suspicious_words_is_listed_plainly(sql):
    (found,) = findings(migrations.RunSQL(sql))
    assert (found.breaking, found.problem) == (
        False,
        "runs SQL, which compat check does not judge",
    )


def forwards(apps, schema_editor):
    """A data migration (never run here)."""


def test_run_python_and_unknown_operations_are_not_judged():
    class Custom(migrations.operations.base.Operation):
        def state_forwards(self, app_label, state):
            pass

    found = findings(migrations.RunPython(forwards), Custom())
    assert [(f.breaking, f.problem) for f in found] == [
        (False, "runs Python code, which compat check does not judge"),
        (False, "is an operation compat check does not know"),
    ]
    assert found[0].operation == f"RunPython({__name__}.forwards)"


def test_the_from_state_is_left_as_it_was():
    state = serving(AUTHOR, BOOK)
    judge(migration("0002", migrations.DeleteModel("Book")), state, connection=CONNECTION)
    assert ("shop", "book") in state.models


def test_render_lists_breaking_then_not_judged_then_a_count():
    found = findings(
        migrations.RenameField("book", "title", "name"),
        migrations.RunPython(forwards),
        migrations.RemoveField("book", "pages"),
    )
    text = render(found)
    assert text.splitlines() == [
        "Operations that would break the release still serving:",
        "",
        "  shop.0002_next: RenameField('book', 'title', 'name') renames column \"title\" of "
        '"shop_book" to "name": the release still serving reads and writes "title".',
        "      Use RenameCompatColumn('book', 'title', 'name').",
        "",
        "  shop.0002_next: RemoveField('book', 'pages') drops column \"pages\" of \"shop_book\": "
        "the release still serving reads and writes it.",
        "      Use RemoveCompatColumn('book', 'pages').",
        "",
        "Not judged (review them by hand):",
        "",
        f"  shop.0002_next: RunPython({__name__}.forwards) runs Python code, which compat "
        "check does not judge.",
        "      Check by hand that the release still serving survives it.",
        "",
        "2 breaking change(s) in 1 unapplied migration(s); 1 operation(s) not judged.",
    ]


def test_render_says_so_when_nothing_breaks():
    assert render([]) == "No unapplied migration would break the release still serving."
    assert render([], include_applied=True) == "No migration would break the release still serving."
