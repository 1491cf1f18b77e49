"""Review of the short lock window (a table's legacy view and sync trigger rebuilt once,
at the last of a run of compat operations on it): the breaks the review found.

A migration here is applied as Django's executor applies one (``Migration.apply`` in one
schema editor's transaction), with its operations written in the test.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import connections, models
from django.db.migrations import (
    AlterField,
    AlterModelOptions,
    AlterModelTable,
    CreateModel,
    Migration,
    SeparateDatabaseAndState,
)
from django.db.migrations.executor import MigrationExecutor

from compat_views.errors import InvalidOperation
from compat_views.operations import AddCompatColumn, RenameCompatColumn, RenameCompatModel
from tests.harness import columns, leftovers, migrate, rows


def apply_migration(app_label: str, at: str, operations: list, atomic: bool = True) -> None:
    """Apply ``operations`` as migration ``0002_review10`` of ``app_label`` after ``at``,
    with Django's executor (no ``migrate`` command, so no ``pre_migrate`` signal)."""
    executor = MigrationExecutor(connections["default"])
    state = executor.loader.project_state((app_label, at), at_end=True)
    migration = Migration("0002_review10", app_label)
    migration.operations, migration.atomic = operations, atomic
    executor.apply_migration(state, migration)


def state_only(operation) -> SeparateDatabaseAndState:
    return SeparateDatabaseAndState(state_operations=[operation])


KEEPS_COLUMN = AlterField(
    "order", "customer", models.CharField(max_length=100, db_column="customer")
)
# The compat operations before and after the AddCompatColumn: the one after it, on the same
# table, reaches no database (a rename whose name the database keeps; a model the router
# leaves out once it is unmanaged), with state-only operations making it so.
NO_DATABASE_NEXT = {
    "kept-db-column": ([state_only(KEEPS_COLUMN)], [RenameCompatColumn("order", "customer", "c")]),
    "kept-db-table": (
        [state_only(AlterModelTable("order", "shop_order"))],
        [RenameCompatModel("Order", "Purchase")],
    ),
    "unmanaged": (
        [],
        [
            state_only(AlterModelOptions("order", {"managed": False})),
            RenameCompatColumn("order", "customer", "c"),
        ],
    ),
}


@pytest.mark.parametrize("case", NO_DATABASE_NEXT)
def test_a_next_operation_that_reaches_no_database_does_not_swallow_the_rebuild(db, case):
    """A compat operation next in line on the same table that changes only Django's state
    rebuilds nothing; the operation before it must still get its view and trigger: a
    legacy insert goes through the view and gets ``up``."""
    migrate("shop", "0001", database="legacy")
    before, after = NO_DATABASE_NEXT[case]
    amount = models.DecimalField(max_digits=12, decimal_places=2)
    add = AddCompatColumn("order", "amount", amount, up="amount_cents / 100.0")
    apply_migration("shop", "0001_initial", [*before, add, *after])
    (row_id,) = rows(
        "INSERT INTO shop_order (customer, amount_cents) VALUES ('legacy', 250) RETURNING id",
        alias="legacy",
    )[0]
    assert rows("SELECT amount FROM public.shop_order WHERE id = %s", [row_id]) == [
        (Decimal("2.50"),)
    ]


def test_a_model_made_in_state_only_between_compat_operations_is_known_to_the_first(db):
    """A SeparateDatabaseAndState that adopts an existing table (its state operations
    create the model) between two compat operations: Django applies the second on the
    adopted model, so the first, which looks ahead at the migration's tables, must see
    it too rather than refuse the migration."""
    migrate("shop", "0001", database="legacy")
    rows("CREATE TABLE review10_tag (id bigserial PRIMARY KEY, label text NOT NULL)")
    adopt = CreateModel(
        "Tag",
        [("id", models.BigAutoField(primary_key=True)), ("label", models.TextField())],
        options={"db_table": "review10_tag"},
    )
    apply_migration(
        "shop",
        "0001_initial",
        [
            AddCompatColumn("order", "note", models.TextField(null=True)),
            state_only(adopt),
            RenameCompatColumn("tag", "label", "name"),
        ],
    )
    rows("INSERT INTO review10_tag (label) VALUES ('legacy')", alias="legacy")
    assert rows("SELECT name FROM public.review10_tag") == [("legacy",)]


def test_a_non_atomic_migration_applied_without_migrate_is_refused(db):
    """``migrate`` refuses compat operations in an ``atomic = False`` migration before it
    runs (a ``pre_migrate`` receiver); a tool that drives Django's executor itself
    sends no such signal. Outside a transaction the lock ahead is let go at once and an
    operation that leaves its rebuild to the next commits with no view or trigger, open
    to legacy writes that escape ``up``: the operation itself must refuse."""
    migrate("shop", "0001", database="legacy")
    amount = models.DecimalField(max_digits=12, decimal_places=2)
    operations = [
        AddCompatColumn("order", "amount", amount, up="amount_cents / 100.0"),
        AddCompatColumn("order", "note", models.TextField(null=True)),
    ]
    with pytest.raises(InvalidOperation, match="atomic = False"):
        apply_migration("shop", "0001_initial", operations, atomic=False)
    assert columns("shop_order") == ["id", "customer", "amount_cents"]
    assert leftovers() == {}
