"""Each operation through the whole lifecycle: expand, rollback, expand again, complete."""

from decimal import Decimal

import pytest
from django.core.management.base import CommandError
from django.db import connections

from compat_views import naming
from compat_views.models import Rollout
from tests.harness import applied, columns, compat, leftovers, migrate, model_at, rows

BOOK_COLUMNS = ["id", "isbn", "title", "price_cents", "stock"]
ORDER_COLUMNS = ["id", "customer", "amount_cents"]


def view_columns(table: str) -> list[str]:
    return [
        name
        for (name,) in rows(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = "
            "'compat_blue' AND table_name = %s ORDER BY ordinal_position",
            [table],
        )
    ]


def test_rename_column_lifecycle(db):
    migrate("library", "0001")
    Legacy = model_at("library", "0001_initial", "Book").objects.using("legacy")
    New = model_at("library", "0002_rename_title", "Book").objects.using("default")
    Legacy.create(isbn="1", title="Dune")

    migrate("library", "0002")
    assert columns("library_book") == ["id", "isbn", "name", "price_cents", "stock"]
    assert view_columns("library_book") == BOOK_COLUMNS
    Legacy.create(isbn="2", title="Emma")
    New.create(isbn="3", name="Ulysses")
    everything = ["Dune", "Emma", "Ulysses"]
    assert sorted(Legacy.values_list("title", flat=True)) == everything
    assert sorted(New.values_list("name", flat=True)) == everything
    assert Legacy.filter(title="Ulysses").update(title="Ulysses!") == 1
    assert New.get(isbn="3").name == "Ulysses!"

    compat("rollback")
    assert columns("library_book") == BOOK_COLUMNS
    assert applied("library") == ["0001_initial"]
    assert leftovers() == {}
    assert sorted(Legacy.values_list("title", flat=True)) == ["Dune", "Emma", "Ulysses!"]

    migrate("library", "0002")
    Legacy.create(isbn="4", title="Middlemarch")
    compat("complete")
    assert columns("library_book") == ["id", "isbn", "name", "price_cents", "stock"]
    assert leftovers() == {}
    assert New.count() == 4
    assert Rollout.objects.filter(status=Rollout.COMPLETED).count() == 1


def test_add_column_lifecycle(db):
    migrate("shop", "0001")
    Legacy = model_at("shop", "0001_initial", "Order").objects.using("legacy")
    New = model_at("shop", "0002_add_amount_status_note", "Order").objects.using("default")
    first = Legacy.create(customer="ada", amount_cents=1234)

    migrate("shop", "0002")
    assert view_columns("shop_order") == ORDER_COLUMNS
    assert New.get(pk=first.pk).amount == Decimal("12.34")  # backfilled
    assert New.get(pk=first.pk).status == "new"  # default
    legacy_row = Legacy.create(customer="bob", amount_cents=500)
    assert New.get(pk=legacy_row.pk).amount == Decimal("5.00")  # sync trigger, up
    New.create(customer="cy", amount_cents=700, amount=Decimal("7.50"), status="paid")
    assert sorted(Legacy.values_list("customer", flat=True)) == ["ada", "bob", "cy"]
    assert New.get(customer="cy").amount == Decimal("7.50")  # the new colour's value is kept
    Legacy.filter(customer="bob").update(amount_cents=999)
    assert New.get(customer="bob").amount == Decimal("9.99")

    compat("rollback")
    assert columns("shop_order") == ORDER_COLUMNS
    assert leftovers() == {}
    assert Legacy.count() == 3
    assert applied("shop") == ["0001_initial"]

    migrate("shop", "0002")
    assert New.get(customer="cy").amount == Decimal("7.00")  # refilled from the legacy value
    compat("complete")
    assert columns("shop_order") == ORDER_COLUMNS + ["amount", "status", "note"]
    assert leftovers() == {}
    defaults = dict(
        rows(
            "SELECT column_name, column_default FROM information_schema.columns "
            "WHERE table_name = 'shop_order'"
        )
    )
    assert defaults["status"] is None  # Django keeps no database default
    nullable = dict(
        rows(
            "SELECT column_name, is_nullable FROM information_schema.columns "
            "WHERE table_name = 'shop_order'"
        )
    )
    assert (nullable["amount"], nullable["status"], nullable["note"]) == ("NO", "NO", "YES")


def test_migrating_backwards_is_a_rollback(db):
    migrate("library", "0001")
    migrate("library", "0002")
    migrate("shop", "0001")
    migrate("shop", "0002")
    migrate("shop", "0001")  # undoes the last operations of the rollout only
    assert columns("shop_order") == ORDER_COLUMNS
    assert columns("library_book")[2] == "name"
    assert view_columns("library_book") == BOOK_COLUMNS
    assert view_columns("shop_order") == []
    migrate("library", "0001")
    assert columns("library_book") == BOOK_COLUMNS
    assert leftovers() == {}
    assert Rollout.objects.get().status == Rollout.ROLLED_BACK


def test_two_apps_join_one_rollout_and_status_reports_it(db, capsys):
    migrate("library", "0001")
    migrate("shop", "0001")
    migrate("library", "0002")
    migrate("shop", "0002")
    assert Rollout.objects.count() == 1
    from django.core.management import call_command

    call_command("compat", "status")
    text = capsys.readouterr().out
    assert "legacy colour blue" in text and "title -> name" in text
    assert "shop.0002_add_amount_status_note: add_column shop_order amount" in text
    assert "DRIFT" not in text
    rows("COMMENT ON VIEW compat_blue.library_book IS 'edited by hand'")
    rows(f"DROP TRIGGER {naming.sync_trigger('public', 'shop_order', 'upd', 'up')} ON shop_order")
    call_command("compat", "status")
    text = capsys.readouterr().out
    assert "DRIFT: view compat_blue.library_book is missing or was changed" in text
    assert "DRIFT: trigger _compat_sync_upd_up_" in text
    connections["legacy"].close()
    compat("complete")
    assert leftovers() == {}


def test_sqlmigrate_shows_the_expand_sql(db, capsys):
    from django.core.management import call_command

    migrate("shop", "0001")
    call_command("sqlmigrate", "shop", "0002")
    out = capsys.readouterr().out
    assert 'ALTER TABLE "public"."shop_order" ADD COLUMN "amount" numeric(10, 2)' in out
    assert "legacy view and sync trigger are regenerated at migrate time" in out
    assert leftovers() == {}


def test_mixed_migration_rolls_back_through_migrate(db):
    migrate("library", "0001")
    migrate("library", "0003")
    with pytest.raises(CommandError, match="(?s)library.0003_mixed.*migrate <app>"):
        compat("rollback")
    assert columns("library_book")[-2:] == ["subtitle", "pages"]  # nothing changed
    migrate("library", "0001")  # Django reverses the plain operation, compat_views the others
    assert columns("library_book") == BOOK_COLUMNS
    assert leftovers() == {}
    migrate("library", "0003")
    compat("complete")
    assert columns("library_book") == [
        "id",
        "isbn",
        "name",
        "price_cents",
        "stock",
        "subtitle",
        "pages",
    ]


def test_plain_migrations_setting_skips_the_rollout(db, settings):
    """For test and fresh development databases, where no old release serves traffic."""
    settings.COMPAT_VIEWS_PLAIN_MIGRATIONS = True
    migrate("library", "0002")
    migrate("shop", "0002")
    assert columns("library_book")[2] == "name"
    assert columns("shop_order") == ORDER_COLUMNS + ["amount", "status", "note"]
    assert leftovers() == {} and Rollout.objects.count() == 0
    migrate("library", "0001")
    assert columns("library_book") == BOOK_COLUMNS
