"""Type and meaning changes and removals through the whole lifecycle.

Each case applies its operations to the inventory Item table and checks, in both
directions, that what one colour writes the other reads correctly transformed:
a row seeded before expand (backfill), a row the legacy colour inserts (``up``)
and a row the new colour inserts (``down``). Rollback must restore the old table
exactly with every row; complete must leave exactly what plain Django migrations
produce, compared catalog row by catalog row.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

import psycopg
import pytest
from django.db import models
from django.test import override_settings

from compat_views.operations import (
    AddCompatColumn,
    AlterCompatColumn,
    RemoveCompatColumn,
    RenameCompatColumn,
)
from tests.harness import apply_operations, compat, leftovers, migrate, rows

TABLE = "inventory_item"
LEGACY = {
    "sku": "A-1",
    "qty": 7,
    "price_cents": 1999,
    "attrs": '{"colour": "red"}',
    "note": None,
    "code": "X1",
}


@dataclass
class Case:
    operations: list
    legacy_sees: dict  # new-shape columns of a legacy-written row
    new_row: dict  # new-shape columns the new colour inserts
    legacy_reads: dict  # legacy columns of that new-colour row
    legacy_row: dict = field(default_factory=lambda: dict(LEGACY))
    after_update: dict | None = None  # legacy_sees once the legacy colour added 1 to qty
    setup: str = ""  # SQL run before the table exists (e.g. rows other tables need)
    table_setup: str = ""  # SQL run on the release-1 table, before any row or operation
    migrations: int = 1  # how many migrations the operations are spread over

    @property
    def updated(self) -> dict:
        return self.after_update or self.legacy_sees


CASES = {
    "int to bigint": Case(
        [AlterCompatColumn("item", "qty", models.BigIntegerField(), up="qty", down="qty")],
        legacy_sees={"qty": 7},
        new_row={"qty": 2**31 - 1},
        legacy_reads={"qty": 2**31 - 1},
        after_update={"qty": 8},
    ),
    "rename and cents to numeric": Case(
        [
            RenameCompatColumn("item", "price_cents", "price"),
            AlterCompatColumn(
                "item",
                "price",
                models.DecimalField(max_digits=10, decimal_places=2),
                up="price / 100.0",
                down="round(price * 100)",
            ),
        ],
        legacy_sees={"price": Decimal("19.99")},
        new_row={"price": Decimal("5.50")},
        legacy_reads={"price_cents": 550},
    ),
    "two changes to one column": Case(
        [
            AlterCompatColumn("item", "qty", models.BigIntegerField(), up="qty", down="qty"),
            AlterCompatColumn(
                "item",
                "qty",
                models.DecimalField(max_digits=12, decimal_places=2),
                up="qty / 2.0",
                down="round(qty * 2)",
            ),
        ],
        legacy_sees={"qty": Decimal("3.50")},
        new_row={"qty": Decimal("4.00")},
        legacy_reads={"qty": 8},
        after_update={"qty": Decimal("4.00")},
    ),
    "non-invertible up and a check constraint": Case(
        [
            AlterCompatColumn(
                "item", "sku", models.CharField(max_length=50), up="lower(sku)", down="sku"
            ),
            AlterCompatColumn(
                "item",
                "qty",
                models.PositiveIntegerField(),
                up="abs(qty) % 100000",  # a % is never a placeholder
                down="qty",
            ),
            AddCompatColumn("item", "rank", models.PositiveSmallIntegerField(null=True)),
        ],
        legacy_sees={"sku": "a-1", "qty": 7, "rank": None},
        new_row={"sku": "new", "qty": 3, "rank": 2},
        legacy_reads={"sku": "new", "qty": 3},
        after_update={"sku": "a-1", "qty": 8, "rank": None},
    ),
    "varchar(50) to varchar(200)": Case(
        [
            AlterCompatColumn(
                "item", "sku", models.CharField(max_length=200), up="sku", down="left(sku, 50)"
            )
        ],
        legacy_sees={"sku": "A-1"},
        new_row={"sku": "B" * 120},
        legacy_reads={"sku": "B" * 50},
    ),
    "text to jsonb": Case(
        [
            AlterCompatColumn(
                "item", "attrs", models.JSONField(null=True), up="attrs::jsonb", down="attrs::text"
            )
        ],
        legacy_sees={"attrs": {"colour": "red"}},
        new_row={"attrs": psycopg.types.json.Jsonb({"size": 3})},
        legacy_reads={"attrs": '{"size": 3}'},
    ),
    "nullable to not null": Case(
        [
            AlterCompatColumn(
                "item", "note", models.TextField(default=""), up="coalesce(note, '')", down="note"
            )
        ],
        legacy_sees={"note": ""},
        new_row={"note": "hello"},
        legacy_reads={"note": "hello"},
    ),
    "remove with down": Case(
        [RemoveCompatColumn("item", "code", down="'n/a:' || sku")],
        legacy_sees={"sku": "A-1"},
        new_row={"sku": "C-3"},
        legacy_reads={"code": "n/a:C-3"},
    ),
    "add unique": Case(
        [
            AddCompatColumn(
                "item",
                "ean",
                models.CharField(max_length=20, unique=True),
                up="'EAN-' || sku || '-' || qty",
            )
        ],
        legacy_sees={"ean": "EAN-A-1-7"},
        new_row={"ean": "EAN-NEW"},
        legacy_reads={"sku": "N-1"},
        legacy_row={**LEGACY, "qty": 7},
        after_update={"ean": "EAN-A-1-8"},
    ),
    "add unique, then rename it": Case(
        [
            AddCompatColumn(
                "item",
                "ean",
                models.CharField(max_length=20, unique=True),
                up="'EAN-' || sku || '-' || qty",
            ),
            RenameCompatColumn("item", "ean", "gtin"),
        ],
        legacy_sees={"gtin": "EAN-A-1-7"},
        new_row={"gtin": "EAN-NEW"},
        legacy_reads={"sku": "N-1"},
        after_update={"gtin": "EAN-A-1-8"},
        migrations=2,  # as makemigrations would write them; in one it folds them into one
    ),
    "a new column takes a renamed column's name": Case(
        [
            RenameCompatColumn("item", "code", "label"),
            AddCompatColumn("item", "code", models.CharField(max_length=12), up="'new-' || label"),
        ],
        legacy_sees={"label": "X1", "code": "new-X1"},
        new_row={"label": "L9", "code": "C9"},
        legacy_reads={"code": "L9"},
        migrations=2,
    ),  # on PostgreSQL 18 the plain NOT NULL is numbered: label keeps code's name
    "make a column unique and indexed": Case(
        [
            AlterCompatColumn(
                "item", "code", models.CharField(max_length=10, unique=True), up="code", down="code"
            ),
            AlterCompatColumn(
                "item", "qty", models.BigIntegerField(db_index=True), up="qty", down="qty"
            ),
        ],
        legacy_sees={"code": "X1"},
        new_row={"code": "N9"},
        legacy_reads={"code": "N9"},
    ),
    "add a foreign key": Case(
        [
            AddCompatColumn(
                "item", "book", models.ForeignKey("library.Book", models.CASCADE, null=True)
            )
        ],
        legacy_sees={"book_id": None},
        new_row={"book_id": 1},
        legacy_reads={"sku": "N-1"},
        setup="INSERT INTO library_book (id, isbn, title, price_cents, stock) "
        "VALUES (1, '1', 'Dune', 0, 0)",
    ),
    "indexes and constraints of several columns are kept": Case(
        [AlterCompatColumn("item", "qty", models.BigIntegerField(), up="qty", down="qty")],
        legacy_sees={"qty": 7},
        new_row={"qty": 123456},
        legacy_reads={"qty": 123456},
        after_update={"qty": 8},
        # What Meta.unique_together, Meta.indexes (with a condition or an expression) and a
        # CheckConstraint over two fields make; a type change keeps them all.
        table_setup="""
            ALTER TABLE inventory_item ADD CONSTRAINT item_sku_qty_uniq UNIQUE (sku, qty);
            CREATE INDEX item_code_qty_idx ON inventory_item (code, qty DESC) WHERE qty > 0;
            CREATE INDEX item_double_qty_idx ON inventory_item ((qty * 2));
            CREATE INDEX item_sku_positive_idx ON inventory_item (sku) WHERE qty >= 0;
            ALTER TABLE inventory_item ADD CONSTRAINT item_qty_below_price
                CHECK (qty < price_cents::bigint + 3000000000);
        """,
    ),
    "collation and comment": Case(
        [
            AddCompatColumn(
                "item",
                "label",
                models.CharField(
                    max_length=30, null=True, db_collation="C", db_comment="shown on the shelf"
                ),
            ),
            AlterCompatColumn(
                "item",
                "sku",
                models.CharField(max_length=80, db_collation="C"),
                up="sku",
                down="left(sku, 50)",
            ),
            AlterCompatColumn(
                "item", "code", models.CharField(max_length=20), up="code", down="code"
            ),
        ],
        legacy_sees={"sku": "A-1", "label": None, "code": "X1"},
        new_row={"sku": "S" * 70, "label": "top shelf"},
        legacy_reads={"sku": "S" * 50},
        # A comment from outside Django: a plain AlterField keeps it, and so must we.
        table_setup="COMMENT ON COLUMN inventory_item.code IS 'set by hand'",
    ),
    "remove nullable": Case(
        [RemoveCompatColumn("item", "note")],
        legacy_sees={"sku": "A-1"},
        new_row={"sku": "D-4"},
        legacy_reads={"note": None},
    ),
}
NEW_DEFAULTS = {
    "sku": "N-1",
    "qty": 1,
    "price_cents": 100,
    "attrs": None,
    "note": None,
    "code": "N",
}


def table_catalog() -> dict:
    """What plain Django and a completed rollout must agree on (column order aside)."""
    return {
        "columns": sorted(
            rows(
                "SELECT attname, format_type(atttypid, atttypmod), attnotnull, "
                "pg_get_expr(d.adbin, d.adrelid), attcollation::regcollation::text, "
                "col_description(attrelid, attnum) FROM pg_attribute a LEFT JOIN pg_attrdef d "
                "ON d.adrelid = a.attrelid AND d.adnum = a.attnum WHERE attrelid = %s::regclass "
                "AND attnum > 0 AND NOT attisdropped",
                [TABLE],
            )
        ),
        "constraints": sorted(
            rows(
                "SELECT conname, contype, pg_get_constraintdef(oid) FROM pg_constraint "
                "WHERE conrelid = %s::regclass",
                [TABLE],
            )
        ),
        "indexes": sorted(
            rows("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = %s", [TABLE])
        ),
        "triggers": rows(
            "SELECT tgname FROM pg_trigger WHERE tgrelid = %s::regclass AND NOT tgisinternal",
            [TABLE],
        ),
    }


ALSO = [("library", "0001_initial")]


def release1(case: Case) -> None:
    migrate("inventory", "0001")
    if case.table_setup:
        rows(case.table_setup)


def plain_catalog(case: Case) -> dict:
    """The table as plain Django migrations leave it; then start over."""
    release1(case)
    with override_settings(COMPAT_VIEWS_PLAIN_MIGRATIONS=True):
        apply_operations(
            case.operations, "inventory", "0001_initial", also=ALSO, migrations=case.migrations
        )
    result = table_catalog()
    rows(f"DROP TABLE {TABLE}")
    rows("DELETE FROM django_migrations WHERE app = 'inventory'")
    return result


def insert(conn, values: dict) -> int:
    names = ", ".join(f'"{k}"' for k in values)
    marks = ", ".join(["%s"] * len(values))
    return conn.execute(
        f"INSERT INTO {TABLE} ({names}) VALUES ({marks}) RETURNING id", list(values.values())
    ).fetchone()[0]


def read(conn, row_id: int, names) -> dict:
    columns = ", ".join(f'"{k}"' for k in names)
    values = conn.execute(f"SELECT {columns} FROM {TABLE} WHERE id = %s", [row_id]).fetchone()
    return dict(zip(names, values, strict=True))


def second(values: dict) -> dict:
    """The same values for a second legacy row, unique where the first row's are."""
    return {
        k: v.replace("A-1", "A-2").replace("a-1", "a-2").replace("X1", "X2")
        if isinstance(v, str)
        else v
        for k, v in values.items()
    }


def new_shape_row(case: Case) -> dict:
    removed = {op.name for op in case.operations if isinstance(op, RemoveCompatColumn)}
    renamed = {
        op.old_name: op.new_name for op in case.operations if isinstance(op, RenameCompatColumn)
    }
    base = {renamed.get(k, k): v for k, v in NEW_DEFAULTS.items() if k not in removed}
    return {**base, **case.new_row}


# The backfill skips triggers where the role may (the test role is a superuser); these
# cases also run with it as a legacy writer, the way a role without that right does.
AS_LEGACY_WRITER = ["two changes to one column", "non-invertible up and a check constraint"]


@pytest.mark.parametrize(
    "name, skip_triggers",
    [(name, True) for name in CASES] + [(name, False) for name in AS_LEGACY_WRITER],
)
def test_lifecycle(db, conninfo, settings, name, skip_triggers):
    settings.COMPAT_VIEWS_BACKFILL_SKIP_TRIGGERS = skip_triggers
    case = CASES[name]
    migrate("library", "0001")
    if case.setup:
        rows(case.setup)
    expected_plain = plain_catalog(case)
    release1(case)
    before = table_catalog()
    blue_options = "-c search_path=compat_blue,public"
    with (
        psycopg.connect(conninfo, autocommit=True, options=blue_options) as blue,
        psycopg.connect(conninfo, autocommit=True) as green,
    ):
        seeded = insert(blue, case.legacy_row)
        apply_operations(
            case.operations, "inventory", "0001_initial", also=ALSO, migrations=case.migrations
        )  # expand

        legacy_written = insert(blue, second(case.legacy_row))
        new_written = insert(green, new_shape_row(case))
        assert read(green, seeded, case.legacy_sees) == case.legacy_sees  # backfilled
        assert read(green, legacy_written, second(case.legacy_sees)) == second(case.legacy_sees)
        assert read(blue, seeded, case.legacy_row) == case.legacy_row  # never rewritten
        assert read(blue, new_written, case.legacy_reads) == case.legacy_reads
        # An UPDATE by the legacy colour flows to the new shape as well.
        blue.execute(f"UPDATE {TABLE} SET qty = qty + 1 WHERE id = %s", [legacy_written])
        assert read(green, legacy_written, second(case.updated)) == second(case.updated)

        compat("rollback")
        assert table_catalog() == before
        assert leftovers() == {}
        assert blue.execute(f"SELECT count(*) FROM {TABLE}").fetchone()[0] == 3
        assert read(blue, new_written, case.legacy_reads) == case.legacy_reads
        assert read(blue, seeded, case.legacy_row) == case.legacy_row

        apply_operations(
            case.operations, "inventory", "0001_initial", also=ALSO, migrations=case.migrations
        )
        compat("complete")
        assert leftovers() == {}
        assert table_catalog() == expected_plain
        assert read(green, seeded, case.legacy_sees) == case.legacy_sees
        assert read(green, legacy_written, second(case.updated)) == second(case.updated)
