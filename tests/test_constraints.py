"""Constraint work that can fail halfway: an index a concurrent build left invalid."""

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import models

from compat_views.errors import CompatError
from compat_views.operations import AddCompatColumn
from tests.harness import apply_operations, compat, leftovers, migrate, rows

EAN = AddCompatColumn(
    "item", "ean", models.CharField(max_length=20, unique=True), up="'EAN-' || sku"
)


def index_valid(name_like: str) -> list[tuple]:
    return rows(
        "SELECT c.relname, i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
        "WHERE c.relname LIKE %s",
        [name_like],
    )


def test_invalid_concurrent_index_is_detected_and_rebuilt(db):
    migrate("inventory", "0001")
    rows(
        "INSERT INTO inventory_item (sku, qty, price_cents, code) "
        "VALUES ('A', 1, 1, 'x'), ('A', 2, 2, 'y'), ('B', 3, 3, 'z')"
    )
    with pytest.raises(CompatError, match="(?s)duplicate.*compat backfill"):
        apply_operations([EAN], "inventory", "0001_initial")
    # The expand committed; the unique index build failed and left an INVALID index.
    assert [valid for _, valid in index_valid(r"\_compat\_ix\_%")] == [False]
    rows("UPDATE inventory_item SET ean = 'EAN-A2' WHERE qty = 2")  # the new colour fixes it
    call_command("compat", "backfill", verbosity=0)
    assert [valid for _, valid in index_valid(r"\_compat\_ix\_%")] == [True, True]
    compat("complete")
    assert leftovers() == {}
    assert rows(
        "SELECT conname FROM pg_constraint WHERE conrelid = 'inventory_item'::regclass "
        "AND contype = 'u'"
    ) == [("inventory_item_ean_key",)]


def test_complete_names_rows_that_block_not_null(db):
    migrate("inventory", "0001")
    rows("INSERT INTO inventory_item (sku, qty, price_cents, code) VALUES ('A', 1, 1, 'x')")
    note = AddCompatColumn("item", "label", models.TextField(), up="attrs")  # attrs is NULL
    apply_operations([note], "inventory", "0001_initial")
    with pytest.raises(CommandError, match="must become NOT NULL.*Fill them"):
        compat("complete")
    assert rows("SELECT status FROM compat_views_rollout") == [("pending",)]
    assert rows("SELECT count(*) FROM pg_constraint WHERE conname LIKE '\\_compat\\_nn%%'") == [
        (0,)
    ]  # no half-made CHECK left to reject the legacy colour's writes
    rows("UPDATE inventory_item SET label = 'filled'")
    compat("complete")
    assert leftovers() == {}
