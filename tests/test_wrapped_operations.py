"""Compat operations inside SeparateDatabaseAndState are the migration's own.

Django runs a wrapper's database operations as if they stood in the migration, so the
rollout must record the migration they come from (``compat rollback`` unrecords it) and
the non-atomic refusal must see them. Scenario ``wrapped``: 0002 wraps two compat
operations, 0003 is non-atomic and wraps one.
"""

import pytest

from compat_views.errors import InvalidOperation
from tests.harness import applied, columns, compat, leftovers, migrate, rows
from tests.test_bad_input import snapshot
from tests.test_history import check_history

NOTES = "wrapped_note"


def test_rollback_unrecords_a_migration_whose_compat_operation_is_wrapped(db):
    migrate("wrapped", "0001")
    rows(f"INSERT INTO {NOTES} (body, words) VALUES ('release 1', 2)", alias="legacy")
    migrate("wrapped", "0002")
    assert rows(f"SELECT body FROM {NOTES}", alias="legacy") == [("release 1",)]
    assert rows(f"SELECT text, pages FROM {NOTES}") == [("release 1", 1)]

    compat("rollback")
    assert applied("wrapped") == ["0001_initial"]
    assert columns(NOTES) == ["id", "body", "words"]
    check_history()
    assert leftovers() == {}

    migrate("wrapped", "0002")  # Django sees 0002 unapplied, so the rollout starts again
    compat("complete")
    assert applied("wrapped") == ["0001_initial", "0002_wrapped"]
    assert columns(NOTES) == ["id", "text", "words", "pages"]
    assert leftovers() == {}


def test_migrating_back_across_wrapped_compat_operations_undoes_each(db):
    migrate("wrapped", "0002")
    rows(f"INSERT INTO {NOTES} (text, words, pages) VALUES ('release 2', 3, 4)")
    migrate("wrapped", "0001")
    assert applied("wrapped") == ["0001_initial"]
    assert rows(f"SELECT body, words FROM {NOTES}") == [("release 2", 3)]
    assert leftovers() == {}


def test_non_atomic_migration_with_a_wrapped_compat_operation_is_refused_before_it_runs(db):
    migrate("wrapped", "0001")
    before = snapshot()
    with pytest.raises(InvalidOperation, match=r"(?s)wrapped\.0003_wrapped_non_atomic.*atomic"):
        migrate("wrapped", "0003")  # 0002 would run first: nothing runs
    assert snapshot() == before
