"""Review of the short lock window: attacks on a migration whose compat operations on one
table leave the legacy view and sync trigger to the last of them.

Each test is one break the review found, applied as Django's executor applies a migration
(``Migration.apply`` in one schema editor's transaction), with the migration's operations
written here.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import connections, models
from django.db.migrations import (
    AlterField,
    AlterModelTable,
    Migration,
    SeparateDatabaseAndState,
)
from django.db.migrations.executor import MigrationExecutor

from compat_views.operations import AddCompatColumn, RenameCompatColumn, RenameCompatModel
from tests.harness import migrate, rows


def apply_migration(app_label: str, at: str, operations: list) -> None:
    """Apply ``operations`` as migration ``0002_review10`` of ``app_label`` after ``at``."""
    connection = connections["default"]
    state = MigrationExecutor(connection).loader.project_state((app_label, at), at_end=True)
    migration = Migration("0002_review10", app_label)
    migration.operations = operations
    with connection.schema_editor(atomic=True) as editor:
        migration.apply(state, editor)


# A rename that keeps its name in the database (db_column, db_table), after a state-only
# operation that gives it that name explicitly.
KEPT_NAME = {
    "column": (
        AlterField("order", "customer", models.CharField(max_length=100, db_column="customer")),
        RenameCompatColumn("order", "customer", "client"),
    ),
    "table": (AlterModelTable("order", "shop_order"), RenameCompatModel("Order", "Purchase")),
}


@pytest.mark.parametrize("kept", KEPT_NAME)
def test_a_rename_that_keeps_its_name_does_not_swallow_the_rebuild(db, kept):
    """A rename whose db_column or db_table keeps the name changes only Django's state;
    the compat operation before it on the same table must still get its view and trigger:
    a legacy insert goes through the view and gets ``up``."""
    migrate("shop", "0001", database="legacy")
    explicit, rename = KEPT_NAME[kept]
    amount = models.DecimalField(max_digits=12, decimal_places=2)
    apply_migration(
        "shop",
        "0001_initial",
        [
            SeparateDatabaseAndState(state_operations=[explicit]),
            AddCompatColumn("order", "amount", amount, up="amount_cents / 100.0"),
            rename,
        ],
    )
    (row_id,) = rows(
        "INSERT INTO shop_order (customer, amount_cents) VALUES ('legacy', 250) RETURNING id",
        alias="legacy",
    )[0]
    assert rows("SELECT amount FROM public.shop_order WHERE id = %s", [row_id]) == [
        (Decimal("2.50"),)
    ]
