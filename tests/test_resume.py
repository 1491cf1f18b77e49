"""After an interrupted backfill: what ``migrate`` and ``compat status`` say, and the progress.

A ``migrate`` killed (SIGKILL) in the middle of its backfill leaves the migration applied
and the backfill, and the unique index built after it, pending. The next ``migrate`` has
nothing to apply; it says what is pending (rows walked of rows in all, the index not
built) and finishes it from the checkpoint. Progress after a resume counts the rows the
interrupted run walked, so it reaches 100% only at the end; ``compat status`` tells rows
walked and rows left apart from rows filled (the backfill skips rows a colour wrote).
"""

from __future__ import annotations

import os
import re
import signal
import time

import pytest
from django.core.management import call_command
from django.test import override_settings

from tests.harness import migrate, rows
from tests.test_backfill import ROWS, Terminal, interrupted_after_one_batch
from tests.test_backfill_kill import DjangoProcess, wait_for

SEED = 20_000
CODE = "SELECT backfill_status, backfill_rows, (backfill_checkpoint #>> '{}')::bigint "
CODE += "FROM compat_views_appliedoperation WHERE spec->>'column' = %s"


def run(conninfo: str, out, app: str, *args: str, batch: int, pause: float) -> DjangoProcess:
    """``python -m django *args`` as green, with the shop's migrations of
    ``tests.error_migrations.indexed`` (``tests/errors_settings.py``)."""
    args = (*args, "--settings", "tests.errors_settings")
    return DjangoProcess(conninfo, out, app, *args, batch=batch, pause=pause)


def test_migrate_after_a_killed_backfill_says_what_is_pending_and_finishes_it(
    db, conninfo, tmp_path, monkeypatch
):
    monkeypatch.setenv("COMPAT_VIEWS_SUBPROCESS_SHOP", "tests.error_migrations.indexed")
    migrate("shop", "0001", database="legacy")  # release 1, as blue
    rows("ALTER TABLE shop_order SET (autovacuum_enabled = false)")  # exact counts below
    rows(
        "INSERT INTO shop_order (customer, amount_cents) "
        "SELECT 'seed', g FROM generate_series(1, %s) g",
        [SEED],
    )
    killed = run(
        conninfo, tmp_path / "killed.out", "killed", "migrate", "shop", batch=500, pause=0.02
    )
    try:
        deadline = time.monotonic() + 60
        while (state := rows(CODE, ["code"])) == [] or state[0][1] < SEED // 5:
            assert killed.alive(), killed.output()
            assert time.monotonic() < deadline, "the backfill did not get a fifth of the way"
            time.sleep(0.01)
        os.kill(killed.proc.pid, signal.SIGKILL)
        killed.proc.wait(timeout=10)
    finally:
        killed.ensure_dead()
    sessions = "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s"
    wait_for(lambda: rows(sessions, [killed.app]) == [(0,)], "the killed sessions to end")
    ((status, filled, checkpoint),) = rows(CODE, ["code"])
    assert status == "pending" and 0 < filled < SEED
    ((walked,),) = rows("SELECT count(*) FROM shop_order WHERE id <= %s", [checkpoint])

    # compat status: where the walk got, what is left, what was filled.
    text = run(conninfo, tmp_path / "status.out", "status", "compat", "status", batch=1, pause=0)
    text.proc.wait(timeout=60)
    report = text.output()
    assert f"backfill pending ({filled} rows filled so far)" in report, report
    assert "Pending work (`manage.py compat backfill` finishes it; `migrate`" in report
    assert (
        f"backfill of shop_order.code: {walked} of {SEED} rows walked, {SEED - walked} left; "
        f"{filled} rows filled so far"
    ) in report, report
    assert re.search(r"unique shop_order_code_\w+ on shop_order \(not built yet\)", report)

    # migrate again: nothing to apply; it says what was pending and finishes it.
    again = run(conninfo, tmp_path / "again.out", "again", "migrate", "shop", batch=5000, pause=0)
    assert again.proc.wait(timeout=60) == 0, again.output()
    said = again.output()
    assert "No migrations to apply." in said
    assert "has work an earlier run left pending; migrate finishes it now (as `manage.py " in said
    assert f"  backfill of shop_order.code: {walked} of {SEED} rows walked" in said
    assert f"  backfill shop_order.code: resuming at {walked}/{SEED} rows" in said
    assert f"  backfill shop_order.code: {SEED}/{SEED} rows (100%, " in said
    assert f"compat_views: pending work done ({SEED - filled} rows filled)." in said
    assert "Traceback" not in said
    assert rows(CODE, ["code"])[0][:2] == ("done", SEED)
    assert rows(
        "SELECT count(*) FROM shop_order WHERE code IS DISTINCT FROM 'order-' || amount_cents"
    ) == [(0,)]
    built = "SELECT count(*) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
    built += "WHERE i.indrelid = 'shop_order'::regclass AND i.indisunique AND i.indisvalid "
    built += "AND c.relname LIKE '\\_compat\\_%'"
    assert rows(built) == [(1,)]


@pytest.mark.parametrize("analysed", [False, True], ids=["counted", "estimated"])
def test_progress_after_a_resume_counts_the_rows_walked_before(db, monkeypatch, analysed):
    interrupted_after_one_batch(monkeypatch)
    if analysed:  # the planner's estimates, as on a big table
        rows("ANALYZE shop_order")
    terminal = Terminal()
    with override_settings(COMPAT_VIEWS_BACKFILL_BATCH_SIZE=500):
        call_command("compat", "backfill", stdout=terminal)
    text = terminal.getvalue()
    label = r"  (?:\[#* *\] )?backfill shop_order\.amount:"
    ((before, total, share),) = re.findall(
        rf"{label} resuming at (\d+)/(\d+) rows \((\d+)%\)\n", text
    )
    before, total = int(before), int(total)
    assert before == pytest.approx(1000, rel=0.05) and total == pytest.approx(ROWS, rel=0.05)
    assert int(share) == round(100 * before / total)
    steps = [
        (int(d), int(t), int(p))
        for d, t, p in re.findall(rf"{label} (\d+)/(\d+) rows \((\d+)%", text)
    ]
    # Three batches of 500 rows, then one that finds none left: the walk is done.
    walked = [before + 500, before + 1000, before + 1500, before + 1500]
    assert [done for done, _, _ in steps] == walked, text
    assert [share for _, _, share in steps[:2]] == [
        round(100 * (before + 500) / total),
        round(100 * (before + 1000) / total),
    ]
    last = steps[-1]
    assert last == (before + 1500, before + 1500, 100), text
    assert text.endswith("Backfill done: 1500 rows filled.\n")
    if not analysed:
        assert (before, total) == (1000, ROWS)


def test_status_tells_rows_walked_and_left_from_rows_filled(db, monkeypatch, capsys):
    interrupted_after_one_batch(monkeypatch)
    rows("UPDATE shop_order SET amount = 0 WHERE id > 2000")  # the new colour writes 500 rows
    capsys.readouterr()
    call_command("compat", "status")
    text = capsys.readouterr().out
    assert "add_column shop_order amount, backfill pending (1000 rows filled so far)" in text
    assert (
        "  backfill of shop_order.amount: 1000 of 2500 rows walked, 1500 left; "
        "1000 rows filled so far"
    ) in text, text

    with override_settings(COMPAT_VIEWS_BACKFILL_BATCH_SIZE=1000):
        call_command("compat", "backfill", verbosity=0)
    call_command("compat", "status")
    text = capsys.readouterr().out
    # It walked every row but filled only those nobody wrote.
    assert "add_column shop_order amount, backfill done (2000 rows filled)" in text, text
    assert "Pending work" not in text
