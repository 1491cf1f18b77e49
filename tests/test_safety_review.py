"""Review of ``compat check``: inputs it judged wrongly, each pinned to what should happen.

Unit tests over ``safety.judge`` (no database), from the same serving state as
``test_safety``: ``0001`` made ``Author`` and ``Book``, the release still serving
reads and writes them, and ``0002`` is judged from there.
"""

from __future__ import annotations

import django
import pytest
from django.db import migrations, models

from tests.test_safety import ID, breaking, findings

LOAN = migrations.CreateModel(
    "Loan",
    [
        ID,
        ("book", models.ForeignKey("shop.Book", models.CASCADE)),
        ("readers", models.ManyToManyField("shop.Author")),
    ],
)
needs_db_default = pytest.mark.skipif(django.VERSION < (5, 0), reason="db_default is new in 5.0")


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
