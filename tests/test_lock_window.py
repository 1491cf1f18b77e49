"""An expand holds its table lock for statements that each operation needs, not more.

Django runs a migration in one transaction, so from the first statement that locks a
table to the commit, the legacy colour's requests for it wait. What a migration checks
or renders once for a table (the lock itself, the CREATE privilege, whether the
transaction holds locks, the legacy view, the sync triggers, the view's grants) must
happen once however many compat operations change the table: a migration of one
operation and one of three hold their table through the same number of each. Only a
compat operation next in line on the same table may leave the rebuild to it.
"""

from __future__ import annotations

import re
from collections import Counter

from django.db import connections

from compat_views.testing.lockwindow import LockWindow
from tests.harness import migrate, rows

ONCE_A_TABLE = {
    "lock": re.compile(r"^LOCK TABLE"),
    "lock check": re.compile(r"pg_catalog\.pg_locks"),
    "privilege check": re.compile(r"has_database_privilege"),
    "legacy view": re.compile(r'^CREATE VIEW "compat_'),
    "sync triggers": re.compile(r'^DROP TRIGGER IF EXISTS "_compat_sync_'),
    "grants read": re.compile(r"\brelacl\b"),
}


def locked_statements(app_label: str, target: str, table: str) -> Counter:
    """How often each kind of ``ONCE_A_TABLE`` ran while ``migrate`` held ``table``
    locked."""
    window = LockWindow(table)
    with connections["default"].execute_wrapper(window):
        migrate(app_label, target)
    assert window.closed, f"migrate {app_label} {target} never locked {table}"
    return Counter(
        kind
        for _, statement in window.inside()
        for kind, shape in ONCE_A_TABLE.items()
        if shape.search(statement)
    )


def test_once_a_table_work_does_not_repeat_per_operation(db):
    migrate("library", "0001")
    migrate("shop", "0001")
    one = locked_statements("library", "0002", "library_book")  # RenameCompatColumn
    three = locked_statements("shop", "0002", "shop_order")  # three AddCompatColumns
    assert one == three
    assert one["lock"] == one["legacy view"] == 1
    assert one["sync triggers"] > 0  # each rebuild drops the table's triggers first
    # Checked before the lock, or only when a lock is busy: never while holding one.
    assert one["privilege check"] == one["lock check"] == 0


def test_a_statement_between_operations_on_a_table_finds_its_trigger(db, settings):
    """The rebuild waits only for a compat operation next in line on the same table:
    a RunSQL between them writes through the first one's sync trigger."""
    settings.MIGRATION_MODULES = {
        **settings.MIGRATION_MODULES,
        "shop": "tests.error_migrations.interleaved",
    }
    migrate("shop", "0001", database="legacy")
    migrate("shop", "0002")
    legacy = "SELECT amount_cents FROM compat_blue.shop_order WHERE customer = 'between'"
    assert rows(legacy) == [(250,)]
