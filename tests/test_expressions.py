"""What an expression means is the same in the check, the backfill and the trigger.

The lookup app's items name their category by a subquery over another table. Each
expression runs as its step function, created when the operation is applied: its
names resolve then, to base tables, for writers of either colour and the backfill.
"""

from __future__ import annotations

import psycopg
import pytest
from django.core.management.base import CommandError
from django.db import models

from compat_views.operations import (
    AddCompatColumn,
    RemoveCompatColumn,
    RenameCompatColumn,
    RenameCompatModel,
)
from tests.harness import applied, apply_operations, columns, compat, leftovers, migrate, rows

LOOKUP = "(SELECT name FROM lookup_category WHERE lookup_category.id = category_id)"


@pytest.fixture
def lookup(db):
    migrate("lookup", "0001")
    rows("INSERT INTO lookup_category (id, name) VALUES (1, 'tools'), (2, 'toys')")
    rows(
        "INSERT INTO lookup_item (name, category_id, label, price_cents, quantity) "
        "VALUES ('hammer', 1, 'tools', 1200, 3)"
    )


def session(conninfo: str, colour: str) -> psycopg.Connection:
    return psycopg.connect(
        conninfo, autocommit=True, options=f"-c search_path=compat_{colour},public"
    )


def test_a_subquery_reads_its_own_columns_for_both_colours(lookup, conninfo):
    """``name`` in the subquery is the category's, as in plain SQL, never the item's."""
    name = models.CharField(max_length=50, null=True)
    apply_operations(
        [
            AddCompatColumn("item", "category_name", name, up=LOOKUP),
            RemoveCompatColumn("item", "label", down=LOOKUP),
        ],
        "lookup",
        "0001_initial",
    )
    with session(conninfo, "blue") as blue:
        blue.execute(
            "INSERT INTO lookup_item (name, category_id, label, price_cents, quantity) "
            "VALUES ('kite', 2, 'blue wrote this', 900, 1)"
        )
    with session(conninfo, "green") as green:
        green.execute(
            "INSERT INTO lookup_item (name, category_id, category_name, price_cents, quantity) "
            "VALUES ('saw', 1, 'tools', 2500, 2)"
        )
    assert rows("SELECT name, category_name FROM lookup_item ORDER BY id") == [
        ("hammer", "tools"),
        ("kite", "toys"),
        ("saw", "tools"),
    ]
    assert rows("SELECT name, label FROM compat_blue.lookup_item ORDER BY id") == [
        ("hammer", "tools"),
        ("kite", "blue wrote this"),
        ("saw", "tools"),
    ]


def test_table_names_mean_the_base_tables_as_named_at_the_operation(lookup, conninfo):
    """Validated against ``lookup_category`` with ``title``, the expression keeps reading
    that table after the rollout renames it, and never the legacy colour's view of it
    (which shows ``name``)."""
    apply_operations(
        [
            RenameCompatColumn("category", "name", "title"),
            AddCompatColumn(
                "item",
                "category_title",
                models.CharField(max_length=50, null=True),
                up="(SELECT c.title FROM lookup_category AS c WHERE c.id = category_id)",
            ),
            RenameCompatModel("category", "kind"),
        ],
        "lookup",
        "0001_initial",
    )
    with session(conninfo, "blue") as blue:
        blue.execute(
            "INSERT INTO lookup_item (name, category_id, label, price_cents, quantity) "
            "VALUES ('kite', 2, 'toys', 900, 1)"
        )
    assert rows("SELECT name, category_title FROM lookup_item ORDER BY id") == [
        ("hammer", "tools"),
        ("kite", "toys"),
    ]
    compat("rollback")
    assert leftovers() == {}
    assert columns("lookup_category") == ["id", "name"]
    assert rows("SELECT name FROM lookup_item ORDER BY id") == [("hammer",), ("kite",)]


def test_an_up_that_fails_on_existing_rows_says_what_to_do(lookup):
    rows(
        "INSERT INTO lookup_item (name, category_id, label, price_cents, quantity) "
        "VALUES ('gift card', 2, 'toys', 5000, 0)"
    )
    with pytest.raises(CommandError) as raised:
        migrate("lookup", "0002")
    message = str(raised.value)
    assert "lookup_item.unit_cents" in message
    assert "lookup.0002_unit_price" in message
    assert "division by zero" in message
    assert "`manage.py compat rollback`, correct `up`" in message
    assert applied("lookup") == ["0001_initial", "0002_unit_price"]
    assert rows(
        "SELECT status, backfill_status FROM compat_views_appliedoperation "
        "JOIN compat_views_rollout r ON r.id = rollout_id"
    ) == [("pending", "pending")]

    compat("rollback")
    assert leftovers() == {}
    assert applied("lookup") == ["0001_initial"]
    assert columns("lookup_item") == [
        "id",
        "name",
        "category_id",
        "label",
        "price_cents",
        "quantity",
    ]
    assert rows("SELECT count(*) FROM lookup_item") == [(2,)]


def test_a_quoted_name_with_a_quote_in_it_is_read(db):
    migrate("oddnames", "0001")
    rows("""INSERT INTO "Odd ""Book"" Table" ("select", "MixedCase") VALUES (1, 'a')""")
    migrate("oddnames", "0002")
    add = AddCompatColumn(
        "oddbook", "double", models.IntegerField(null=True), up='"we""ird col" * 2'
    )
    apply_operations([add], "oddnames", "0002_rename_and_add")
    assert rows("""SELECT "double" FROM "Odd ""Book"" Table" """) == [(4,)]
