"""Review of ``compat check``: inputs it judged wrongly, each pinned to what should happen.

Unit tests over ``safety.judge`` (no database), from the same serving state as
``test_safety``: ``0001`` made ``Author`` and ``Book``, the release still serving
reads and writes them, and ``0002`` is judged from there.
"""

from __future__ import annotations

import django
import pytest
from django.contrib.postgres.functions import RandomUUID
from django.db import migrations, models
from django.db.migrations.state import ProjectState

from tests.test_safety import AUTHOR, BOOK, ID, breaking, findings, serving

LOAN = migrations.CreateModel(
    "Loan",
    [
        ID,
        ("book", models.ForeignKey("shop.Book", models.CASCADE)),
        ("readers", models.ManyToManyField("shop.Author")),
    ],
)
needs_db_default = pytest.mark.skipif(django.VERSION < (5, 0), reason="db_default is new in 5.0")
rebuilds_pattern_index = pytest.mark.skipif(
    django.VERSION < (5, 0),
    reason="Django 4.2 drops the pattern index of an indexed varchar turned text, builds none",
)


def problems(*operations, **kwargs) -> list[str]:
    return [f.problem for f in breaking(*operations, **kwargs)]


# --- What the plan creates: only tables this database really gets are new -----------------


def test_a_proxy_model_created_in_the_plan_does_not_make_its_parents_table_new():
    # A proxy's db_table is its parent's: the table the release still serving uses.
    proxy = migrations.CreateModel("Special", [], options={"proxy": True}, bases=("shop.book",))
    (found,) = breaking(proxy, migrations.RemoveField("book", "pages"))
    assert found.problem.startswith('drops column "pages" of "shop_book"')


def test_an_unmanaged_model_over_an_existing_table_does_not_make_it_new():
    view = migrations.CreateModel(
        "BookView",
        [ID, ("title", models.CharField(max_length=100))],
        options={"managed": False, "db_table": "shop_book"},
    )
    (found,) = breaking(view, migrations.RenameField("book", "title", "name"))
    assert found.problem.startswith('renames column "title" of "shop_book" to "name"')


def test_a_column_added_earlier_in_the_plan_is_new_to_the_serving_release():
    # Several migrations of one release: add a column, then rename it, then drop it.
    add = migrations.AddField("book", "note", models.TextField(null=True))
    assert findings(add, migrations.RenameField("book", "note", "remark")) == []
    assert findings(add, migrations.RemoveField("book", "note")) == []
    later = migrations.RemoveField("book", "remark")
    assert findings(add, migrations.RenameField("book", "note", "remark"), later) == []
    # A column the release still serving has is still judged.
    assert len(breaking(add, migrations.RemoveField("book", "pages"))) == 1


def test_a_many_to_many_field_added_earlier_in_the_plan_is_new_to_the_serving_release():
    add = migrations.AddField("book", "tags", models.ManyToManyField("shop.Author"))
    assert findings(add, migrations.RemoveField("book", "tags")) == []
    assert findings(add, migrations.RenameField("book", "tags", "labels")) == []


# --- AlterField on a foreign key: Django drops and re-adds the constraint -----------------


@pytest.mark.parametrize(  # built in the test: Django 4.2 has no db_default
    "make",
    [
        lambda: models.ForeignKey("shop.Book", models.CASCADE, default=1),
        lambda: models.ForeignKey("shop.Book", models.CASCADE, db_index=False),
        pytest.param(
            lambda: models.ForeignKey("shop.Book", models.CASCADE, db_default=1),
            marks=needs_db_default,
        ),
    ],
    ids=["default", "db_index off", "db_default"],
)
def test_altering_a_foreign_key_re_validates_it(make):
    field = make()
    (found,) = breaking(
        migrations.AlterField("loan", "book", field), state=serving(AUTHOR, BOOK, LOAN)
    )
    assert found.problem.startswith(
        'drops and re-adds the foreign key from column "book_id" of "shop_loan" to "shop_book"'
    )
    assert "SeparateDatabaseAndState" in found.instead


@pytest.mark.parametrize(
    "field",
    [
        models.ForeignKey("shop.Book", models.PROTECT),
        models.ForeignKey("shop.Book", models.CASCADE, related_name="loans"),
        models.ForeignKey("shop.Book", models.CASCADE, verbose_name="the book"),
        models.ForeignKey("shop.Book", models.CASCADE, db_comment="lent"),
        models.ForeignKey("shop.Book", models.CASCADE, db_constraint=False),
    ],
    ids=["on_delete", "related_name", "verbose_name", "db_comment", "constraint off"],
)
def test_foreign_key_changes_django_makes_without_the_constraint_are_safe(field):
    state = serving(AUTHOR, BOOK, LOAN)
    assert findings(migrations.AlterField("loan", "book", field), state=state) == []


# --- AlterField on a many-to-many field renames its table or its columns -----------------


@pytest.mark.parametrize(
    ("field", "words"),
    [
        (
            models.ManyToManyField("shop.Author", db_table="loan_readers"),
            'renames table "shop_loan_readers" to "loan_readers"',
        ),
        (
            models.ManyToManyField("shop.Book"),
            'renames column "author_id" of "shop_loan_readers" to "book_id"',
        ),
    ],
    ids=["db_table", "to"],
)
def test_altering_a_many_to_many_field_renames_what_the_serving_release_uses(field, words):
    state = serving(AUTHOR, BOOK, LOAN)
    (found,) = breaking(migrations.AlterField("loan", "readers", field), state=state)
    assert words in found.problem
    assert "No compat operation does this" in found.instead


def test_a_many_to_many_field_change_of_python_attributes_is_safe():
    alter = migrations.AlterField(
        "loan", "readers", models.ManyToManyField("shop.Author", related_name="loans")
    )
    assert findings(alter, state=serving(AUTHOR, BOOK, LOAN)) == []


# --- AddField: a CHECK, a volatile db_default ---------------------------------------------


@pytest.mark.parametrize(  # built in the test: Django 4.2 has no db_default
    "make",
    [
        lambda: models.PositiveIntegerField(null=True),
        pytest.param(
            lambda: models.PositiveSmallIntegerField(db_default=0), marks=needs_db_default
        ),
    ],
    ids=["nullable", "db_default"],
)
def test_adding_a_column_with_a_check_scans_the_table_under_its_lock(make):
    (found,) = breaking(migrations.AddField("book", "rank", make()))
    assert found.problem.startswith('adds column "rank" to "shop_book" with CHECK ("rank" >= 0)')
    assert "blocks reads and writes" in found.problem
    assert found.instead.startswith("Use AddCompatColumn('book', 'rank', models.Positive")


@needs_db_default
def test_a_volatile_database_default_rewrites_the_table():
    add = migrations.AddField("book", "uid", models.UUIDField(db_default=RandomUUID()))
    (found,) = breaking(add)
    assert "GEN_RANDOM_UUID()" in found.problem and "rewrit" in found.problem
    assert "up=…" in found.instead


@needs_db_default
def test_a_stable_database_default_is_safe():
    now = migrations.AddField("book", "at", models.DateTimeField(db_default=models.functions.Now()))
    assert findings(now) == []


# --- AlterField: what is no rewrite, what loses the serving release's defaults --------------


@pytest.mark.parametrize(
    "field",
    [
        models.DecimalField(max_digits=12, decimal_places=2),  # more digits, same scale
        models.CharField(),  # no max_length: varchar
    ],
    ids=["wider numeric", "unlimited varchar"],
)
def test_widening_without_a_rewrite_is_safe(field):
    model = migrations.CreateModel(
        "Price",
        [
            ID,
            ("amount", models.DecimalField(max_digits=5, decimal_places=2)),
            ("label", models.CharField(max_length=10)),
        ],
    )
    name = "amount" if isinstance(field, models.DecimalField) else "label"
    assert findings(migrations.AlterField("price", name, field), state=serving(model)) == []


def test_a_numeric_scale_change_is_still_a_type_change():
    model = migrations.CreateModel(
        "Price", [ID, ("amount", models.DecimalField(max_digits=5, decimal_places=2))]
    )
    alter = migrations.AlterField(
        "price", "amount", models.DecimalField(max_digits=9, decimal_places=3)
    )
    assert "from numeric(5, 2) to numeric(9, 3)" in problems(alter, state=serving(model))[0]


@needs_db_default
def test_dropping_the_database_default_the_serving_release_inserts_with_breaks_it():
    model = migrations.CreateModel("Stock", [ID, ("count", models.IntegerField(db_default=0))])
    alter = migrations.AlterField("stock", "count", models.IntegerField(default=0))
    (found,) = breaking(alter, state=serving(model))
    assert found.problem.startswith('drops the database default of column "count" of "shop_stock"')
    assert "keep the db_default" in found.instead
    # With a Python default too, the serving release writes that value: nothing is left out.
    both = migrations.CreateModel(
        "Stock", [ID, ("count", models.IntegerField(db_default=0, default=0))]
    )
    assert findings(alter, state=serving(both)) == []


def test_a_collation_change_says_collation():
    alter = migrations.AlterField(
        "book", "title", models.CharField(max_length=100, db_collation="C")
    )
    (found,) = breaking(alter)
    assert found.problem.startswith('changes the collation of column "title" of "shop_book" to "C"')


INDEXED = migrations.CreateModel(
    "Tag",
    [
        ID,
        ("label", models.CharField(max_length=10, db_index=True)),
        ("code", models.CharField(max_length=10, unique=True)),
    ],
)


@pytest.mark.parametrize(
    "alter",
    [
        migrations.AlterField("tag", "label", models.TextField(db_index=True)),
        migrations.AlterField("tag", "code", models.TextField(unique=True)),
    ],
    ids=["db_index", "unique"],
)
@rebuilds_pattern_index
def test_varchar_to_text_on_an_indexed_column_rebuilds_its_pattern_index(alter):
    (found,) = breaking(alter, state=serving(INDEXED))
    assert found.problem.startswith("rebuilds the pattern index (…_like) of column")
    assert "CONCURRENTLY" in found.instead


def test_a_longer_varchar_on_an_indexed_column_is_still_safe():
    alter = migrations.AlterField("tag", "label", models.CharField(max_length=20, db_index=True))
    assert findings(alter, state=serving(INDEXED)) == []


def test_trading_unique_for_db_index_builds_an_index():
    alter = migrations.AlterField("tag", "code", models.CharField(max_length=10, db_index=True))
    (found,) = breaking(alter, state=serving(INDEXED))
    assert found.problem.startswith('builds an index on column "code" of "shop_tag" by CREATE')


# --- Primary keys and referenced columns: AlterCompatColumn refuses them -------------------


def test_changing_the_type_of_a_primary_key_names_the_referencing_tables_and_no_compat_operation():
    # DEFAULT_AUTO_FIELD changes write exactly this.
    alter = migrations.AlterField("book", "id", models.AutoField(primary_key=True))
    (found,) = breaking(alter, state=serving(AUTHOR, BOOK, LOAN))
    assert 'changes the type of column "id" of "shop_book" from bigint to integer' in found.problem
    assert '"shop_loan"' in found.problem
    assert "AlterCompatColumn" not in found.instead.split(".")[-1]
    assert "No compat operation does this" in found.instead


def test_changing_the_type_of_a_column_a_foreign_key_references_has_no_compat_operation():
    coded = migrations.CreateModel(
        "Book", [ID, ("isbn", models.CharField(max_length=20, unique=True))]
    )
    loan = migrations.CreateModel(
        "Loan", [ID, ("book", models.ForeignKey("shop.Book", models.CASCADE, to_field="isbn"))]
    )
    alter = migrations.AlterField("book", "isbn", models.CharField(max_length=13, unique=True))
    (found,) = breaking(alter, state=serving(coded, loan))
    assert '"shop_loan"' in found.problem
    assert "No compat operation does this" in found.instead


# --- Locks: ALTER TABLE … ADD CONSTRAINT … UNIQUE blocks reads too --------------------------


@pytest.mark.parametrize(
    "operation",
    [
        migrations.AlterField("book", "isbn", models.CharField(max_length=20, unique=True)),
        migrations.AddConstraint("book", models.UniqueConstraint(fields=["isbn"], name="isbn_uq")),
        migrations.AlterUniqueTogether("book", {("title", "isbn")}),
    ],
    ids=["AlterField unique", "UniqueConstraint", "unique_together"],
)
def test_a_unique_constraint_blocks_reads_and_writes(operation):
    (found,) = breaking(operation)
    assert "ADD CONSTRAINT" in found.problem and "blocks reads and writes" in found.problem


def test_a_partial_unique_constraint_is_an_index_that_blocks_writes():
    partial = models.UniqueConstraint(
        fields=["isbn"], condition=models.Q(stock__gt=0), name="isbn_uq"
    )
    (found,) = breaking(migrations.AddConstraint("book", partial))
    assert "CREATE UNIQUE INDEX" in found.problem and "blocks writes" in found.problem


# --- More of what the plan created ----------------------------------------------------------


def test_a_many_to_many_field_added_earlier_in_the_plan_can_be_altered():
    add = migrations.AddField("book", "tags", models.ManyToManyField("shop.Author"))
    alter = migrations.AlterField(
        "book", "tags", models.ManyToManyField("shop.Author", db_table="t")
    )
    assert findings(add, alter, migrations.RemoveField("book", "tags")) == []


@needs_db_default
def test_a_column_added_earlier_in_the_plan_is_still_judged_for_the_locks_of_its_alter():
    add = migrations.AddField("book", "note", models.CharField(max_length=10, db_default=""))
    found = breaking(
        add,
        # A db_column rename, nullable, no db_default: nothing the serving release sees.
        migrations.AlterField(
            "book", "note", models.CharField(max_length=10, null=True, db_column="n")
        ),
        # A type change rewrites the table all the same.
        migrations.AlterField("book", "note", models.IntegerField(null=True, db_column="n")),
        migrations.RemoveField("book", "note"),  # the renamed column is still new
    )
    assert [f.problem.split(":")[0] for f in found] == [
        'changes the type of column "n" of "shop_book" from varchar(10) to integer'
    ]


class Tagged(migrations.operations.base.Operation):
    """Another library's operation, with a ``model_name`` that is not a model of the app."""

    def __init__(self, model_name):
        self.model_name = model_name

    def state_forwards(self, app_label, state):
        pass


def test_another_librarys_operation_with_a_model_name_of_its_own_is_listed_not_a_crash():
    (found,) = findings(Tagged("not_a_model"))
    assert (found.breaking, found.problem) == (False, "is an operation compat check does not know")


# --- What Django runs, on a real database: the verdicts above follow it ---------------------

LOANED = (AUTHOR, BOOK, LOAN)
TAGGED = (INDEXED,)
AGREES = [
    # (serving, operation, what Django's SQL has when it blocks, whether judged breaking)
    (LOANED, ("loan", "book", {"default": 1}), "FOREIGN KEY", True),
    (LOANED, ("loan", "book", {"db_index": False}), "FOREIGN KEY", True),
    (LOANED, ("loan", "book", {"on_delete": models.PROTECT}), "FOREIGN KEY", False),
    (LOANED, ("loan", "book", {"related_name": "loans"}), "FOREIGN KEY", False),
    (LOANED, ("loan", "book", {"db_comment": "lent"}), "FOREIGN KEY", False),
    pytest.param(
        TAGGED,
        ("tag", "label", models.TextField(db_index=True)),
        "CREATE INDEX",
        True,
        marks=rebuilds_pattern_index,
    ),
    (TAGGED, ("tag", "label", models.CharField(max_length=20, db_index=True)), "INDEX", False),
    (TAGGED, ("tag", "code", models.CharField(max_length=10, db_index=True)), "CREATE INDEX", True),
]


def _operation(spec):
    model_name, name, field = spec
    if isinstance(field, dict):  # a ForeignKey to Book with these arguments
        field = models.ForeignKey("shop.Book", **{"on_delete": models.CASCADE, **field})
    return migrations.AlterField(model_name, name, field)


@pytest.mark.parametrize(("made", "spec", "fragment", "blocks"), AGREES)
def test_the_verdict_follows_the_sql_django_runs(db, made, spec, fragment, blocks):
    from django.db import connection

    state = ProjectState()
    for operation in made:
        after = state.clone()
        operation.state_forwards("shop", after)
        with connection.schema_editor() as editor:
            operation.database_forwards("shop", editor, state, after)
        state = after
    operation = _operation(spec)
    after = state.clone()
    operation.state_forwards("shop", after)
    with connection.schema_editor(collect_sql=True, atomic=False) as editor:
        operation.database_forwards("shop", editor, state, after)
    ran = " ".join(editor.collected_sql)
    assert (fragment in ran) == blocks, ran
    assert bool(findings(operation, state=state)) == blocks


# --- The command ----------------------------------------------------------------------------


def test_compat_check_on_an_unreachable_database_is_a_message_not_a_traceback(db, pg_server):
    from django.core.management.base import CommandError

    from tests.test_check_command import alias, compat_check

    with alias("missing", pg_server.django_settings(f"{db}_missing")):
        _, error = compat_check(database="missing")
    assert isinstance(error, CommandError)
    assert str(error).startswith("Could not connect to database 'missing': ")
    assert "Check its DATABASES entry and that the server is up" in str(error)
