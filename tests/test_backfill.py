"""The batched backfill: resumable from its checkpoint, visible in status."""

import io
import json

import pytest
from django.core.management import call_command
from django.test import override_settings

from compat_views import backfill
from tests.harness import migrate, rows

ROWS = 2500


class Killed(Exception):
    """Stands in for the migrating process dying between two backfill batches."""


def interrupted_after_one_batch(monkeypatch) -> None:
    """``migrate shop 0002`` over ``ROWS`` rows: the migration commits; the backfill dies
    after its first batch of 1,000."""
    migrate("shop", "0001")
    rows(
        "INSERT INTO shop_order (customer, amount_cents) "
        "SELECT 'seed', g FROM generate_series(1, %s) g",
        [ROWS],
    )

    def die(seconds):
        raise Killed

    monkeypatch.setattr(backfill.time, "sleep", die)
    with override_settings(COMPAT_VIEWS_BACKFILL_BATCH_SIZE=1000, COMPAT_VIEWS_BACKFILL_PAUSE=0.01):
        with pytest.raises(Killed):
            migrate("shop", "0002")
    monkeypatch.undo()


@pytest.mark.parametrize("skip_triggers", [True, False])
def test_backfill_resumes_where_it_stopped(db, monkeypatch, capsys, settings, skip_triggers):
    settings.COMPAT_VIEWS_BACKFILL_SKIP_TRIGGERS = skip_triggers
    interrupted_after_one_batch(monkeypatch)

    assert rows("SELECT count(*) FROM shop_order WHERE amount IS NULL") == [(ROWS - 1000,)]
    assert rows("SELECT app, name FROM django_migrations WHERE app = 'shop' ORDER BY name")[-1] == (
        "shop",
        "0002_add_amount_status_note",
    )
    capsys.readouterr()
    call_command("compat", "status", "--json")
    status = json.loads(capsys.readouterr().out)
    (amount,) = [op for op in status["rollout"]["operations"] if op["spec"]["column"] == "amount"]
    assert (amount["backfill"], amount["backfill_rows"]) == ("pending", 1000)
    call_command("compat", "status")
    assert "Pending work (`manage.py compat backfill` finishes it" in capsys.readouterr().out

    with override_settings(COMPAT_VIEWS_BACKFILL_BATCH_SIZE=1000):
        call_command("compat", "backfill")
    assert "Backfill done: 1500 rows filled." in capsys.readouterr().out
    assert rows(
        "SELECT count(*) FROM shop_order WHERE amount IS DISTINCT FROM amount_cents / 100.0"
    ) == [(0,)]
    assert rows(
        "SELECT backfill_status, backfill_rows FROM compat_views_appliedoperation "
        "WHERE spec->>'column' = 'amount'"
    ) == [("done", ROWS)]


def test_backfill_keeps_what_the_new_colour_wrote(db):
    migrate("shop", "0001")
    rows("INSERT INTO shop_order (customer, amount_cents) VALUES ('a', 100), ('b', 200)")
    with override_settings(COMPAT_VIEWS_BACKFILL_PAUSE=0.0):
        migrate("shop", "0002")
    # The new colour writes a value that is not up(legacy); a second backfill pass keeps it.
    rows("UPDATE shop_order SET amount = 42 WHERE customer = 'a'")
    rows(
        "UPDATE compat_views_appliedoperation SET backfill_status = 'pending', "
        "backfill_checkpoint = NULL WHERE spec->>'column' = 'amount'"
    )
    call_command("compat", "backfill", verbosity=0)
    assert rows("SELECT customer, amount FROM shop_order ORDER BY customer") == [
        ("a", 42),
        ("b", 2),
    ]


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize(
    "stream, expected",
    [
        (
            Terminal(),
            [
                "\r  [###############               ] backfill t.c: 50/100 rows (50%",
                "\r  [##############################] backfill t.c: 100/100 rows (100%",
            ],
        ),
        (io.StringIO(), ["  backfill t.c: 100/100 rows (100%"]),
    ],
)
def test_progress_is_a_bar_on_a_terminal_and_lines_elsewhere(monkeypatch, stream, expected):
    clock = iter([0.0, 0.5, 3.0])  # created, first batch (too soon for a line), last batch
    monkeypatch.setattr(backfill.time, "monotonic", lambda: next(clock))
    progress = backfill.Progress(stream)
    progress("t.c", 50, 100, finished=False)
    progress("t.c", 100, 100, finished=True)
    written = stream.getvalue()
    pieces = [piece for piece in written.replace("\r", "\n\r").split("\n") if piece]
    assert [piece[: len(want)] for piece, want in zip(pieces, expected, strict=True)] == expected
    assert written.endswith("\n")


def test_only_a_role_that_may_set_session_replication_role_skips_triggers(db):
    rows("DO $$ BEGIN CREATE ROLE compat_plain_user; EXCEPTION WHEN duplicate_object THEN END $$")
    assert backfill._may_skip_triggers("default") is True  # the test role is a superuser
    rows("SET ROLE compat_plain_user")
    try:
        assert backfill._may_skip_triggers("default") is False
    finally:
        rows("RESET ROLE")
