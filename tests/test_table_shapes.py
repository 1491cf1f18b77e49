"""Table shapes a Django app has: stored generated columns, partitioned tables, and a
primary key renamed earlier in the rollout.

Each works through the whole lifecycle, or is refused before any DDL with a message
that says what to do instead.
"""

from __future__ import annotations

from decimal import Decimal

import django
import psycopg
import pytest
from django.db import models
from django.test import override_settings

from compat_views.errors import InvalidOperation
from compat_views.operations import (
    AddCompatColumn,
    AlterCompatColumn,
    RemoveCompatColumn,
    RenameCompatColumn,
)
from tests.harness import apply_operations, columns, compat, leftovers, migrate, model_at, rows
from tests.test_bad_input import snapshot

BLUE = "-c search_path=compat_blue,public"

needs_generated_field = pytest.mark.skipif(
    django.VERSION < (5, 0), reason="GeneratedField needs Django 5.0+"
)


def total_cents(expression: str) -> models.GeneratedField:
    return models.GeneratedField(
        expression=models.F(expression),
        output_field=models.BigIntegerField(),
        db_persist=True,
    )


# The generated app's Line: total_cents = qty * price_cents, stored.
LINE = "generated_line"
LINE_OPERATIONS = [
    RenameCompatColumn("line", "qty", "quantity"),  # a column the generated one reads
    AddCompatColumn(
        "line",
        "total",
        models.DecimalField(max_digits=12, decimal_places=2),
        up="quantity * price_cents / 100.0",
    ),
    AlterCompatColumn(
        "line", "sku", models.CharField(max_length=80), up="upper(sku)", down="lower(sku)"
    ),
]


def new_line(conn, row_id: int) -> tuple:
    return conn.execute(
        f"SELECT sku, quantity, total, total_cents FROM {LINE} WHERE id = %s", [row_id]
    ).fetchone()


def legacy_line(conn, row_id: int) -> tuple:
    return conn.execute(
        f"SELECT sku, qty, total_cents FROM {LINE} WHERE id = %s", [row_id]
    ).fetchone()


@needs_generated_field
def test_generated_column_lifecycle(db, conninfo):
    migrate("generated", "0001")
    Legacy = model_at("generated", "0001_initial", "Line").objects.using("legacy")
    seeded = Legacy.create(sku="a-1", qty=2, price_cents=150)
    before = columns(LINE)
    with (
        psycopg.connect(conninfo, autocommit=True, options=BLUE) as blue,
        psycopg.connect(conninfo, autocommit=True) as green,
    ):
        apply_operations(LINE_OPERATIONS, "generated", "0001_initial")  # expand
        assert new_line(green, seeded.pk) == ("A-1", 2, Decimal("3.00"), 300)  # backfilled

        legacy = Legacy.create(sku="b-2", qty=3, price_cents=200)  # Django skips total_cents
        assert legacy.total_cents == 600
        assert new_line(green, legacy.pk) == ("B-2", 3, Decimal("6.00"), 600)
        (new,) = green.execute(
            f"INSERT INTO {LINE} (sku, quantity, price_cents, total) "
            "VALUES ('C-3', 4, 25, 1.00) RETURNING id"
        ).fetchone()
        assert legacy_line(blue, new) == ("c-3", 4, 100)
        Legacy.filter(pk=legacy.pk).update(qty=5)  # up runs again; total_cents follows
        assert new_line(green, legacy.pk) == ("B-2", 5, Decimal("10.00"), 1000)

        compat("rollback")
        assert columns(LINE) == before
        assert leftovers() == {}
        assert sorted(Legacy.values_list("sku", "qty", "total_cents")) == [
            ("a-1", 2, 300),
            ("b-2", 5, 1000),
            ("c-3", 4, 100),
        ]

        apply_operations(LINE_OPERATIONS, "generated", "0001_initial")
        compat("complete")
        assert leftovers() == {}
        assert columns(LINE) == ["id", "quantity", "price_cents", "note", "total_cents"] + [
            "total",
            "sku",
        ]
        assert new_line(green, legacy.pk) == ("B-2", 5, Decimal("10.00"), 1000)
        green.execute(f"UPDATE {LINE} SET quantity = 6 WHERE id = %s", [legacy.pk])
        assert new_line(green, legacy.pk)[3] == 1200  # still generated, from the renamed column


@needs_generated_field
def test_an_expression_that_only_names_a_generated_column(db, conninfo):
    """Names are matched in an expression's text, but the trigger's WHEN clause may not
    mention a generated column, so it is out of every expression's scope."""
    migrate("generated", "0001")
    label = AddCompatColumn(
        "line", "label", models.TextField(null=True), up="sku || ': total_cents=' || qty"
    )
    apply_operations([label], "generated", "0001_initial")
    with psycopg.connect(conninfo, autocommit=True, options=BLUE) as blue:
        blue.execute(f"INSERT INTO {LINE} (sku, qty, price_cents) VALUES ('a-1', 2, 150)")
        blue.execute(f"UPDATE {LINE} SET qty = 3")
    assert rows(f"SELECT label, total_cents FROM {LINE}") == [("a-1: total_cents=3", 450)]
    compat("complete")
    assert leftovers() == {}


@needs_generated_field
def test_removing_a_generated_column_then_a_column_it_read(db, conninfo):
    """Removed earlier in the rollout, the generated column no longer holds the other back:
    ``complete`` drops the columns in the order they were removed."""
    migrate("generated", "0001")
    rows(f"INSERT INTO {LINE} (sku, qty, price_cents) VALUES ('a-1', 2, 150)")
    operations = [
        RemoveCompatColumn("line", "total_cents"),
        RemoveCompatColumn("line", "qty", down="1"),
    ]
    with psycopg.connect(conninfo, autocommit=True, options=BLUE) as blue:
        apply_operations(operations, "generated", "0001_initial")
        rows(f"INSERT INTO {LINE} (sku, price_cents) VALUES ('b-2', 300)")
        totals = blue.execute(f"SELECT sku, qty, total_cents FROM {LINE} ORDER BY sku").fetchall()
        assert totals == [("a-1", 2, 300), ("b-2", 1, 300)]  # still computed for the legacy colour
    compat("complete")
    assert columns(LINE) == ["id", "sku", "price_cents", "note"]
    assert leftovers() == {}


@needs_generated_field
@pytest.mark.parametrize(
    "make, message",
    [
        (
            lambda: AlterCompatColumn(
                "line", "qty", models.BigIntegerField(), up="qty", down="qty"
            ),
            r"generated column\(s\) \['total_cents'\] .* read 'qty'",
        ),
        (
            lambda: RemoveCompatColumn("line", "price_cents", down="0"),
            r"\['total_cents'\] .* read 'price_cents'",
        ),
        (
            lambda: RemoveCompatColumn("line", "total_cents", down="qty * price_cents"),
            "total_cents is a generated column: PostgreSQL computes it",
        ),
        (
            lambda: AddCompatColumn("line", "half", models.BigIntegerField(), up="total_cents / 2"),
            r"(?s)total_cents.*\['total_cents'\] are generated columns, computed after the sync",
        ),
        (
            lambda: AddCompatColumn("line", "again", total_cents("qty")),
            "is a GeneratedField.*exclusive lock",
        ),
        (
            lambda: AlterCompatColumn(
                "line", "total_cents", total_cents("price_cents"), up="1", down="1"
            ),
            "is a GeneratedField",
        ),
    ],
)
def test_generated_column_refusals(db, make, message):
    """``make`` builds the operation: GeneratedField does not exist before Django 5.0."""
    operation = make()
    migrate("generated", "0001")
    rows(f"INSERT INTO {LINE} (sku, qty, price_cents) VALUES ('a-1', 2, 150)")
    before = snapshot()
    with pytest.raises(InvalidOperation, match=f"{message}.*nothing was changed"):
        apply_operations([operation], "generated", "0001_initial")
    assert snapshot() == before


# The partitioned app's Reading: PARTITION BY RANGE (id), ids below 1000 in one
# partition, the rest in the other.
READING = "partitioned_reading"
PARTITIONS = ["partitioned_reading_high", "partitioned_reading_low"]
ADD_INDEXED = AddCompatColumn(
    "reading",
    "value",
    models.DecimalField(max_digits=12, decimal_places=3, db_index=True),
    up="value_milli / 1000.0",
)


def indexes() -> list[tuple]:
    """Every index of the partitioned table and its partitions, by name, with validity."""
    return rows(
        "SELECT c.relname, ic.relname, i.indisvalid FROM pg_index i "
        "JOIN pg_class ic ON ic.oid = i.indexrelid JOIN pg_class c ON c.oid = i.indrelid "
        "WHERE c.relname LIKE 'partitioned\\_reading%%' ORDER BY 1, 2"
    )


def plain_indexes() -> list[tuple]:
    """The indexes plain Django's AddField leaves on the (empty) table; then start over."""
    migrate("partitioned", "0001")
    with override_settings(COMPAT_VIEWS_PLAIN_MIGRATIONS=True):
        apply_operations([ADD_INDEXED], "partitioned", "0001_initial")
    result = indexes()
    rows(f"DROP TABLE {READING}")
    rows("DELETE FROM django_migrations WHERE app = 'partitioned'")
    return result


def test_partitioned_table_gets_an_indexed_column(db, conninfo, settings):
    settings.COMPAT_VIEWS_BACKFILL_BATCH_SIZE = 400  # batches cross the partition boundary
    expected = plain_indexes()
    migrate("partitioned", "0001")
    rows(
        f"INSERT INTO {READING} (sensor, value_milli) SELECT 's', g FROM generate_series(1, 1500) g"
    )
    before = indexes()
    with (
        psycopg.connect(conninfo, autocommit=True, options=BLUE) as blue,
        psycopg.connect(conninfo, autocommit=True) as green,
    ):
        apply_operations([ADD_INDEXED], "partitioned", "0001_initial")  # expand
        assert rows(f"SELECT count(*) FROM {READING} WHERE value IS NULL") == [(0,)]
        built = [row for row in indexes() if row not in before]
        assert len(built) == 3 and all(valid for _, _, valid in built)  # parent + partitions

        (legacy,) = blue.execute(
            f"INSERT INTO {READING} (sensor, value_milli) VALUES ('b', 2500) RETURNING id"
        ).fetchone()
        green.execute(f"INSERT INTO {READING} (sensor, value_milli, value) VALUES ('g', 1, 7)")
        blue.execute(f"UPDATE {READING} SET value_milli = 4000 WHERE id = %s", [legacy])
        value = green.execute(f"SELECT value FROM {READING} WHERE id = %s", [legacy]).fetchone()
        assert value == (Decimal("4.000"),)
        sensors = blue.execute(f"SELECT count(*) FROM {READING} WHERE sensor = 'g'").fetchone()
        assert sensors == (1,)

        compat("rollback")
        assert indexes() == before
        assert leftovers() == {}
        assert blue.execute(f"SELECT count(*) FROM {READING}").fetchone() == (1502,)

        apply_operations([ADD_INDEXED], "partitioned", "0001_initial")
        compat("complete")
        assert leftovers() == {}
        assert indexes() == expected  # Django's name on the parent, PostgreSQL's below it
        assert rows(f"SELECT count(*) FROM {READING} WHERE value IS NULL") == [(0,)]
        nullable = rows(
            "SELECT is_nullable FROM information_schema.columns "
            "WHERE table_name = %s AND column_name = 'value'",
            [READING],
        )
        assert nullable == [("NO",)]


@pytest.mark.parametrize(
    "operation, message",
    [
        (
            AddCompatColumn(
                "reading", "code", models.CharField(max_length=9, null=True, unique=True)
            ),
            r"partitioned table, .*unique.*\['partitioned_reading_code_key'\].*Drop unique=True",
        ),
        (
            AddCompatColumn(
                "reading", "book", models.ForeignKey("library.Book", models.CASCADE, null=True)
            ),
            r"partitioned table, .*foreign key NOT VALID.*\['partitioned_reading_book_id_\w+'\]",
        ),
        (RemoveCompatColumn("reading", "id"), "'id' is in the partition key"),
    ],
)
def test_partitioned_table_refusals(db, operation, message):
    migrate("library", "0001")
    migrate("partitioned", "0001")
    before = snapshot()
    with pytest.raises(InvalidOperation, match=f"{message}.*nothing was changed"):
        apply_operations(
            [operation], "partitioned", "0001_initial", also=[("library", "0001_initial")]
        )
    assert snapshot() == before


def test_backfill_after_the_primary_key_was_renamed(db, settings):
    settings.COMPAT_VIEWS_BACKFILL_BATCH_SIZE = 10
    migrate("shop", "0001")
    rows(
        "INSERT INTO shop_order (customer, amount_cents) "
        "SELECT 'seed', g FROM generate_series(1, 25) g"
    )
    operations = [
        RenameCompatColumn("order", "id", "number"),
        AddCompatColumn("order", "doubled", models.IntegerField(), up="amount_cents * 2"),
    ]
    apply_operations(operations, "shop", "0001_initial", migrations=2)
    assert rows("SELECT count(*) FROM shop_order WHERE doubled = amount_cents * 2") == [(25,)]
    assert rows("SELECT backfill_status FROM compat_views_appliedoperation WHERE seq = 2") == [
        ("done",)
    ]
    compat("complete")
    assert columns("shop_order") == ["number", "customer", "amount_cents", "doubled"]
    assert leftovers() == {}


def test_a_partition_attached_during_the_rollout_is_backfilled(db):
    """A time-series job loads next month's partition and attaches it mid-rollout: its
    rows never passed the sync trigger, so the next backfill (here complete's) walks
    that partition, and only it: a NULL the new colour wrote elsewhere stays NULL."""
    migrate("partitioned", "0001")
    rows(f"ALTER TABLE {READING} DETACH PARTITION partitioned_reading_high")
    rows("DROP TABLE partitioned_reading_high")
    rows(f"CREATE TABLE {READING}_mid PARTITION OF {READING} FOR VALUES FROM (1000) TO (2000)")
    rows(f"INSERT INTO {READING} (sensor, value_milli) VALUES ('seed', 1500)")
    add = AddCompatColumn(
        "reading",
        "value",
        models.DecimalField(max_digits=12, decimal_places=3, null=True),
        up="value_milli / 1000.0",
    )
    apply_operations([add], "partitioned", "0001_initial")
    rows(f"INSERT INTO {READING} (id, sensor, value_milli, value) VALUES (1200, 'g', 7, NULL)")
    rows(f"CREATE TABLE {READING}_next (LIKE {READING} INCLUDING DEFAULTS)")
    rows(f"INSERT INTO {READING}_next (id, sensor, value_milli) VALUES (2500, 'etl', 2500)")
    rows(f"ALTER TABLE {READING} ATTACH PARTITION {READING}_next FOR VALUES FROM (2000) TO (3000)")
    compat("complete")
    assert rows(f"SELECT id, value FROM {READING} ORDER BY id") == [
        (1, Decimal("1.500")),
        (1200, None),
        (2500, Decimal("2.500")),
    ]
