"""A value ``up`` or ``down`` gives that its column cannot hold fails by name.

PostgreSQL's own error (``integer out of range``, in ``_compat_row_down_…() at
assignment``) names neither the column nor the operation; the writer must learn both,
with the value and what to do, under the SQLSTATE PostgreSQL would have used. The
operations run from a migration named ``inventory.0002_narrow``, as ``migrate`` runs them.
"""

from __future__ import annotations

from decimal import Decimal

import psycopg
import pytest
from django.db import connections, migrations, models
from django.db.migrations.executor import MigrationExecutor
from django.test import override_settings
from psycopg import errors

from compat_views.errors import BackfillFailed
from compat_views.operations import AlterCompatColumn, RenameCompatColumn
from tests.harness import compat, leftovers, migrate, rows

ROW = "'A-1', 7, 1999, 'X1'"  # sku, qty, price_cents, code


def migrate_with(*operations) -> None:
    """Apply ``operations`` as migration ``inventory.0002_narrow`` (Migration.apply)."""
    migration = migrations.Migration("0002_narrow", "inventory")
    migration.operations = list(operations)
    connection = connections["default"]
    state = MigrationExecutor(connection).loader.project_state(
        ("inventory", "0001_initial"), at_end=True
    )
    with connection.schema_editor() as editor:
        migration.apply(state, editor)


@pytest.fixture
def inventory(db):
    migrate("inventory", "0001")
    rows(f"INSERT INTO inventory_item (sku, qty, price_cents, code) VALUES ({ROW})")


def write(conninfo: str, colour: str, statement: str) -> None:
    options = f"-c search_path=compat_{colour},public"
    with psycopg.connect(conninfo, autocommit=True, options=options) as conn:
        conn.execute(statement)


def refused(conninfo: str, colour: str, statement: str, error: type) -> str:
    with pytest.raises(error) as raised:
        write(conninfo, colour, statement)
    return raised.value.diag.message_primary


def test_a_down_too_big_for_the_legacy_integer_names_it(inventory, conninfo):
    migrate_with(AlterCompatColumn("item", "qty", models.BigIntegerField(), up="qty", down="qty"))
    write(conninfo, "green", "UPDATE inventory_item SET qty = 2147483647")
    assert rows("SELECT qty FROM compat_blue.inventory_item") == [(2147483647,)]

    message = refused(
        conninfo,
        "green",
        "UPDATE inventory_item SET qty = 2147483648",
        errors.NumericValueOutOfRange,
    )
    assert "legacy column inventory_item.qty (integer)" in message
    assert "`down` of the alter_column in inventory.0002_narrow" in message
    assert "'2147483648'" in message
    assert "the new colour must not write values that column cannot hold" in message
    assert rows("SELECT qty FROM compat_blue.inventory_item") == [(2147483647,)]

    compat("complete")
    assert leftovers() == {}


def test_a_rounded_down_is_checked_after_rounding(inventory, conninfo):
    migrate_with(
        RenameCompatColumn("item", "price_cents", "price"),
        AlterCompatColumn(
            "item",
            "price",
            models.DecimalField(max_digits=10, decimal_places=2),
            up="price / 100.0",
            down="round(price * 100)",
        ),
    )
    write(conninfo, "green", "UPDATE inventory_item SET price = 21474836.47")
    assert rows("SELECT price_cents FROM compat_blue.inventory_item") == [(2147483647,)]
    message = refused(
        conninfo,
        "green",
        "UPDATE inventory_item SET price = 21474836.475",  # stored as .48: 2147483648
        errors.NumericValueOutOfRange,
    )
    assert "legacy column inventory_item.price_cents" in message


def test_a_down_too_long_for_the_legacy_varchar_names_it(inventory, conninfo):
    migrate_with(AlterCompatColumn("item", "sku", models.TextField(), up="sku", down="sku"))
    write(conninfo, "green", f"UPDATE inventory_item SET sku = '{'s' * 50}' || '   '")
    assert rows("SELECT sku FROM compat_blue.inventory_item") == [("s" * 50,)]
    message = refused(
        conninfo,
        "green",
        f"UPDATE inventory_item SET sku = '{'s' * 51}'",
        errors.StringDataRightTruncation,
    )
    assert "legacy column inventory_item.sku" in message
    assert "alter_column in inventory.0002_narrow" in message


def test_an_up_into_a_narrower_column_names_it(inventory, conninfo):
    migrate_with(
        AlterCompatColumn(
            "item",
            "price_cents",
            models.DecimalField(max_digits=3, decimal_places=2),
            up="price_cents / 1000.0",
            down="price_cents * 1000",
        ),
        AlterCompatColumn("item", "code", models.CharField(max_length=5), up="code", down="code"),
    )
    write(conninfo, "blue", "UPDATE inventory_item SET price_cents = 9994, code = 'ABCDE'")
    assert rows("SELECT price_cents, code FROM inventory_item") == [(Decimal("9.99"), "ABCDE")]

    message = refused(
        conninfo,
        "blue",
        "UPDATE inventory_item SET price_cents = 9995",  # 9.995 rounds to 10.00: too big
        errors.NumericValueOutOfRange,
    )
    assert "`up` of the alter_column in inventory.0002_narrow" in message
    assert "column inventory_item.price_cents" in message
    assert "the legacy colour must not write values that column cannot hold" in message
    message = refused(
        conninfo,
        "blue",
        "UPDATE inventory_item SET code = 'ABCDEF'",
        errors.StringDataRightTruncation,
    )
    assert "column inventory_item.code" in message

    compat("rollback")
    assert leftovers() == {}


def test_a_backfill_that_does_not_fit_stops_migrate_naming_the_column(inventory):
    rows("INSERT INTO inventory_item (sku, qty, price_cents, code) VALUES ('B', 1, 1, 'ABCDEF')")
    with pytest.raises(BackfillFailed) as raised:
        migrate_with(
            AlterCompatColumn(
                "item", "code", models.CharField(max_length=5), up="code", down="code"
            )
        )
    message = str(raised.value)
    assert message.startswith("The backfill of inventory_item.code failed")
    assert "`up` of the alter_column in inventory.0002_narrow" in message
    assert "'ABCDEF'" in message
    assert "\n" not in message

    compat("rollback")
    assert leftovers() == {}


def test_a_batch_that_does_not_fit_runs_again_checked_after_the_batches_that_fit(inventory):
    """A batch runs the bare step (no fit check) and, failing, the checked one: the
    batches before it stay filled and checkpointed, and the error still names the value."""
    rows("INSERT INTO inventory_item (sku, qty, price_cents, code) VALUES ('B', 1, 1, 'OK')")
    rows("INSERT INTO inventory_item (sku, qty, price_cents, code) VALUES ('C', 1, 1, 'ABCDEF')")
    with (
        override_settings(COMPAT_VIEWS_BACKFILL_BATCH_SIZE=2),
        pytest.raises(BackfillFailed) as raised,
    ):
        migrate_with(
            AlterCompatColumn(
                "item", "code", models.CharField(max_length=5), up="code", down="code"
            )
        )
    assert "`up` of the alter_column in inventory.0002_narrow" in str(raised.value)
    assert "'ABCDEF'" in str(raised.value)
    assert rows(
        "SELECT backfill_status, backfill_rows, backfill_checkpoint #>> '{}' "
        "FROM compat_views_appliedoperation"
    ) == [("pending", 2, "2")]
    assert rows("SELECT code FROM inventory_item ORDER BY id") == [("X1",), ("OK",), (None,)]
    assert rows(
        "SELECT count(*) FROM pg_catalog.pg_proc WHERE proname LIKE '\\_compat\\_bare\\_%'"
    ) == [(1,)]

    compat("rollback")
    assert leftovers() == {}


def test_nan_fits_a_bounded_numeric(inventory, conninfo):
    """PostgreSQL stores NaN in numeric(p, s), though it sorts above every number."""
    migrate_with(
        AlterCompatColumn(
            "item",
            "note",
            models.DecimalField(max_digits=5, decimal_places=2, null=True),
            up="note::numeric",
            down="note::text",
        )
    )
    write(conninfo, "blue", "UPDATE inventory_item SET note = 'NaN'")
    assert rows("SELECT note::text FROM inventory_item") == [("NaN",)]


def test_a_volatile_expression_is_evaluated_once_and_its_value_checked(inventory, conninfo):
    """The value tested is the value stored: a sequence moves one step a row."""
    rows("CREATE SEQUENCE public.unfit_seq")
    migrate_with(
        AlterCompatColumn(
            "item", "qty", models.IntegerField(), up="nextval('public.unfit_seq')", down="qty"
        )
    )
    write(
        conninfo, "blue", f"INSERT INTO inventory_item (sku, qty, price_cents, code) VALUES ({ROW})"
    )
    assert rows("SELECT qty FROM inventory_item ORDER BY id") == [(1,), (2,)]
    assert rows("SELECT last_value FROM public.unfit_seq") == [(2,)]


EDGES = {  # values around each bound, where rounding decides; NaN and infinities fail too
    "integer": ["2147483647.49", "2147483647.5", "-2147483648.49", "-2147483648.5"],
    "smallint": ["32767.5", "32766.5", "-32768.5", "-32767.5", "32767.4"],
    "bigint": ["9223372036854775807.4", "9223372036854775807.5", "-9223372036854775808.5"],
    "numeric(5,2)": ["999.994", "999.995", "-999.995", "-999.9949", "999.99"],
    "numeric(3,0)": ["999.4", "999.5", "-999.5", "-999.49"],
}
SPECIAL = ["NaN", "Infinity", "-Infinity", "0", "-0.5", "2.5"]


@pytest.mark.parametrize("natural", ["numeric", "double precision", "real"])
@pytest.mark.parametrize("target", sorted(EDGES))
def test_the_fit_test_agrees_with_the_cast_at_every_edge(db, natural, target):
    """The test a step runs on every synced row is true exactly where the cast fails
    (NaN fits a bounded numeric; it fails an integer, as infinities fail both)."""
    from django.db import DatabaseError, transaction

    from compat_views.triggers import unfit

    test, _ = unfit(natural, target, "v")
    for text in [*EDGES[target], *SPECIAL]:
        value = f"'{text}'::{natural}"
        ((refused,),) = rows(f"SELECT {test} FROM (SELECT {value} AS v) AS one")
        try:
            with transaction.atomic():
                rows(f"SELECT ({value})::{target}")
            failed = False
        except DatabaseError:
            failed = True
        assert refused is failed, f"{text}::{natural} into {target}: test {refused}, cast {failed}"
