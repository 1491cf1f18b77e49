"""Compat operations that run plain still check their expressions, as a rollout would.

On a table the same ``migrate`` created (a CI or test database) and with
``COMPAT_VIEWS_PLAIN_MIGRATIONS``, no `up` or `down` is ever evaluated, yet the same
migration opens a rollout on production's database. Each wrong expression below
(``tests/error_migrations/fresh_*``, in place of the library's migrations) fails a
``migrate`` from zero with the message that rollout gives, inside the migration's
transaction: the migration is unrecorded and its table is as the one before left it.
"""

from __future__ import annotations

import pytest
from django.test import override_settings

from compat_views import lifecycle
from compat_views.errors import InvalidOperation
from compat_views.models import Rollout
from tests.harness import applied, columns, leftovers, migrate, rows
from tests.test_bad_input import snapshot

BOOK = ["id", "isbn", "title", "price_cents", "stock"]  # library 0001_initial
CASES = {  # package: (operation, what PostgreSQL said)
    "fresh_add_up": ("AddCompatColumn('book', 'weight')", 'column "weight" does not exist'),
    "fresh_remove_down": ("RemoveCompatColumn('book', 'stock')", 'column "title" does not exist'),
    "fresh_alter_up": ("AlterCompatColumn('book', 'isbn')", "declared to return bigint"),
    "fresh_alter_down": ("AlterCompatColumn('book', 'price_cents')", "declared to return integer"),
}


@pytest.fixture(params=sorted(CASES))
def case(request, settings) -> str:
    """One wrong migration in place of the library's 0002, for the whole test."""
    settings.MIGRATION_MODULES = {
        **settings.MIGRATION_MODULES,
        "library": f"tests.error_migrations.{request.param}",
    }
    return request.param


def refusal(database: str = "default") -> str:
    with pytest.raises(InvalidOperation) as raised:
        migrate("library", "0002", database=database)
    return str(raised.value)


def test_a_wrong_expression_fails_a_migrate_from_zero(db, case):
    message = refusal()
    what, detail = CASES[case]
    assert message.startswith(f"{what}: the expression "), message
    assert detail in message and message.endswith("Fix the expression; nothing was changed.")

    # 0001 committed in its own transaction; nothing of 0002's is left.
    assert applied("library") == ["0001_initial"]
    assert columns("library_book") == BOOK
    assert Rollout.objects.count() == 0 and leftovers() == {}
    refused = snapshot()
    migrate("library", "zero")
    migrate("library", "0001")
    assert snapshot() == refused


def unordered(message: str) -> tuple[str, list[str], str]:
    """The message with the columns it lists sorted: a rollout's shape lists a column the
    rollout renamed last, the table after a plain RenameField where it stands."""
    head, _, rest = message.partition(" does not work over the columns [")
    listed, _, tail = rest.partition("] of ")
    return head, sorted(listed.split(", ")), tail


def test_the_message_is_the_one_a_rollout_gives(db, case):
    migrate("library", "0001", database="legacy")  # release 1, as blue
    in_rollout = refusal()
    assert applied("library") == ["0001_initial"] and Rollout.objects.count() == 0
    migrate("library", "zero", database="legacy")
    assert unordered(refusal()) == unordered(in_rollout)  # from zero: library_book is fresh


def test_plain_migrations_check_expressions_on_existing_tables_too(db, case):
    migrate("library", "0001", database="legacy")
    rows("INSERT INTO library_book (isbn, title, price_cents, stock) VALUES ('1', 'Dune', 1, 1)")
    before = snapshot()
    with override_settings(COMPAT_VIEWS_PLAIN_MIGRATIONS=True):
        message = refusal()
    assert message.startswith(f"{CASES[case][0]}: the expression ")
    assert snapshot() == before
    assert rows("SELECT isbn, title, price_cents, stock FROM library_book") == [("1", "Dune", 1, 1)]


def test_good_expressions_are_checked_and_leave_nothing(db, monkeypatch):
    checked = []

    def check_expression(connection, target, expression, *args):
        checked.append((target.table, expression))
        return real(connection, target, expression, *args)

    real = lifecycle.check_expression
    monkeypatch.setattr(lifecycle, "check_expression", check_expression)
    for app in ("shop", "lookup", "bookshop"):  # the rollout template: every kind
        migrate(app, "0002")
    assert checked == [
        ("shop_order", "amount_cents / 100.0"),
        ("lookup_item", "price_cents / quantity"),
        ("bookshop_book", "1"),  # AddCompatColumn's up
        ("bookshop_book", "0"),  # RemoveCompatColumn's down
        ("bookshop_book", "pages"),  # AlterCompatColumn's up, then its down
        ("bookshop_book", "pages"),
    ]
    assert Rollout.objects.count() == 0 and leftovers() == {}
