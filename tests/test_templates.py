"""The reference migrations apply for real, and every operation survives the migration writer."""

import importlib.util
from decimal import Decimal
from pathlib import Path

import pytest
from django.db import models
from django.db.migrations.writer import MigrationWriter

from compat_views.operations import AddCompatColumn, RenameCompatColumn
from tests.harness import apply_operations, columns, compat, leftovers, migrate, model_at, rows

TEMPLATES = sorted((Path(__file__).parent.parent / "migrations_templates").glob("0*.py"))
COLUMN_TEMPLATES = [path for path in TEMPLATES if "_model" not in path.stem]
MODEL_TEMPLATES = [path for path in TEMPLATES if "_model" in path.stem]


def load(path: Path):
    spec = importlib.util.spec_from_file_location(f"template_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.Migration


def test_templates_apply_to_a_bookshop_table(db):
    """Apply every column template's operations, in order, to the library scenario's Book."""
    migrate("library", "0001")
    legacy = model_at("library", "0001_initial", "Book").objects.using("legacy")
    legacy.create(isbn="1", title="Dune", price_cents=1999)
    operations = [op for path in COLUMN_TEMPLATES for op in load(path).operations]
    apply_operations(operations, "library", "0001_initial")
    assert rows("SELECT name, price, on_sale FROM library_book") == [
        ("Dune", Decimal("19.99"), False)
    ]
    legacy.create(isbn="2", title="Emma", price_cents=500)
    assert rows("SELECT price FROM library_book WHERE isbn = '2'") == [(Decimal("5.00"),)]
    rows(
        "INSERT INTO library_book (isbn, name, price, on_sale, stock) "
        "VALUES ('3', 'Ulysses', 7.25, true, 0)"
    )
    assert legacy.get(isbn="3").price_cents == 725  # down, for the column the new shape dropped
    assert legacy.get(isbn="3").title == "Ulysses"
    compat("complete")
    assert leftovers() == {}
    assert "price_cents" not in columns("library_book")


@pytest.mark.parametrize("path", MODEL_TEMPLATES, ids=lambda path: path.stem)
def test_model_templates_apply_to_a_bookshop_table(db, path):
    """Each model template on its own, on the library scenario's release-1 Book."""
    migrate("library", "0001")
    legacy = model_at("library", "0001_initial", "Book").objects.using("legacy")
    legacy.create(isbn="1", title="Dune")
    apply_operations(load(path).operations, "library", "0001_initial")
    legacy.create(isbn="2", title="Emma")  # the old release keeps writing
    assert sorted(legacy.values_list("title", flat=True)) == ["Dune", "Emma"]
    compat("complete")
    assert leftovers() == {}
    tables = rows("SELECT tablename FROM pg_tables WHERE tablename LIKE 'library_%' ORDER BY 1")
    renamed = "rename" in path.stem
    assert tables == ([("library_novel",)] if renamed else [])
    if renamed:
        assert rows("SELECT title FROM library_novel ORDER BY 1") == [("Dune",), ("Emma",)]


@pytest.mark.parametrize(
    "operation",
    [
        RenameCompatColumn("book", "title", "name"),
        AddCompatColumn(
            "book",
            "price",
            models.DecimalField(max_digits=10, decimal_places=2),
            up="price_cents / 100.0",
        ),
        AddCompatColumn("book", "note", models.TextField(null=True)),
        *[op for path in TEMPLATES for op in load(path).operations],
    ],
    ids=lambda op: op.describe(),
)
def test_operation_round_trips_through_the_migration_writer(operation):
    text, imports = MigrationWriter.serialize(operation)
    namespace: dict = {}
    exec("\n".join(sorted(imports)) + f"\nresult = {text}", namespace)
    assert comparable(namespace["result"]) == comparable(operation)
    assert type(namespace["result"]) is type(operation)


def comparable(operation) -> tuple:
    """deconstruct(), with fields (equal only to themselves) replaced by their own deconstruct."""
    name, args, kwargs = operation.deconstruct()
    kwargs = {
        k: v.deconstruct()[1:] if isinstance(v, models.Field) else v for k, v in kwargs.items()
    }
    return name, args, kwargs


def test_no_missing_migrations_for_the_scenarios(db):
    from django.core.management import call_command

    call_command("makemigrations", "--check", "--dry-run", verbosity=0)
