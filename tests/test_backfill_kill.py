"""SIGKILL the migrating process in the middle of a 200,000-row backfill while both colours write.

``migrate shop 0002`` (AddCompatColumn ``amount`` with ``up="amount_cents / 100.0"``)
runs in a subprocess as the new colour, green. Its expand commits, then its backfill
walks the table; the test watches the backfill's checkpoint in the database and
kills the process with SIGKILL half-way through, while a legacy (blue) writer and a
new-colour (green) writer keep writing on their own connections. ``compat backfill``
(another subprocess) must resume from the checkpoint and finish. Then every row holds
``amount = up(legacy)`` unless the new colour wrote it, no legacy value was
rewritten, and the two runs together filled every row that needed it, exactly once.

To know which rows the backfill itself filled, the test adds a statement-level
AFTER UPDATE trigger with transition tables that records, for UPDATEs by the two
backfill processes only (recognised by their application_name), each row's old and
new ``amount`` and whether anything else changed (its body names the columns the
expand adds: plpgsql resolves them on first use, which is after the expand).
"""

from __future__ import annotations

import os
import random
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from decimal import Decimal
from pathlib import Path

import psycopg

from tests.harness import ColourWriter, migrate, rows

SEED = 200_000
# The killed run walks in small throttled batches, so that it is caught well inside the
# table; the resumed run in bigger ones: a resume must not depend on the batch size.
KILLED_BATCH, KILLED_PAUSE = 5_000, 0.02
RESUMED_BATCH, RESUMED_PAUSE = 20_000, 0.005
GREEN_AMOUNT = Decimal("-42.42")  # what green inserts: never amount_cents / 100 (cents > 0)
GREEN_MARK = Decimal("-1.00")  # what green sets on seeded rows it updates
KILLED_APP, RESUMED_APP = "kill-test-killed", "kill-test-resumed"
MIGRATION = "0002_add_amount_status_note"
ROOT = Path(__file__).resolve().parent.parent

AMOUNT_OPERATION = (
    "SELECT backfill_status, backfill_rows, (backfill_checkpoint #>> '{}')::bigint "
    "FROM compat_views_appliedoperation WHERE spec->>'column' = 'amount'"
)

AUDIT = """
CREATE TABLE public.kill_test_seed AS SELECT id, customer, amount_cents FROM public.shop_order;
CREATE TABLE public.kill_test_touched (id bigint PRIMARY KEY, colour text, updates integer);
CREATE TABLE public.kill_test_audit (
    id bigint, app text, xid bigint, old_amount numeric, new_amount numeric,
    old_cents integer, new_cents integer, rest_unchanged boolean
);
-- The INSERT's plan is cached at its first run, sized for that statement's transition
-- tables; a first batch that filled nothing would leave a nested loop for the big ones.
CREATE FUNCTION public.kill_test_audit() RETURNS trigger LANGUAGE plpgsql
SET enable_nestloop = off AS $$
BEGIN
    INSERT INTO public.kill_test_audit
    SELECT n.id, pg_catalog.current_setting('application_name'), pg_catalog.txid_current(),
           o.amount, n.amount, o.amount_cents, n.amount_cents,
           (o.customer, o.amount_cents, o.status, o.note)
               IS NOT DISTINCT FROM (n.customer, n.amount_cents, n.status, n.note)
    FROM old_rows o JOIN new_rows n ON n.id = o.id;
    RETURN NULL;
END $$;
CREATE TRIGGER kill_test_audit AFTER UPDATE ON public.shop_order
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT
    WHEN (pg_catalog.current_setting('application_name') LIKE 'compat_green:kill-test-%')
    EXECUTE FUNCTION public.kill_test_audit();
-- The backfill may run with session_replication_role = replica; the audit must see it.
ALTER TABLE public.shop_order ENABLE ALWAYS TRIGGER kill_test_audit;
"""


class Writer(ColourWriter):
    """One colour's application on a raw connection: inserts, and updates of seeded rows.

    blue (legacy) inserts ``blue-<n>`` rows, now and then bumps ``amount_cents`` of one
    of its own rows and of an odd seeded row; green (new colour) inserts ``green-<n>``
    rows with ``amount = GREEN_AMOUNT`` and sets ``amount = GREEN_MARK`` on even seeded
    rows. The two never touch the same row, so each row's final value is known.
    """

    def __init__(self, conninfo: str, colour: str, seeded: tuple[int, int]) -> None:
        super().__init__(conninfo, colour, name="writer")
        self.seeded = seeded
        self.rng = random.Random(colour)
        self.touched: Counter[int] = Counter()  # seeded id -> updates committed

    def seeded_id(self, parity: int) -> int:
        low, high = self.seeded
        row_id = self.rng.randint(low, high)
        return row_id if row_id % 2 == parity else (row_id + 1 if row_id < high else row_id - 1)

    def step(self, conn: psycopg.Connection, n: int) -> None:
        if self.colour == "blue":
            (row_id,) = conn.execute(
                "INSERT INTO shop_order (customer, amount_cents) VALUES (%s, %s) RETURNING id",
                [f"blue-{n}", n],
            ).fetchone()
            self.inserted += 1
            if n % 5 == 0:
                conn.execute(
                    "UPDATE shop_order SET amount_cents = amount_cents + 1 WHERE id = %s", [row_id]
                )
            if n % 3 == 0:
                seeded = self.seeded_id(1)
                conn.execute(
                    "UPDATE shop_order SET amount_cents = amount_cents + 1 WHERE id = %s", [seeded]
                )
                self.touched[seeded] += 1
        else:
            conn.execute(
                "INSERT INTO shop_order (customer, amount_cents, amount, status, note) "
                "VALUES (%s, %s, %s, 'new', NULL)",
                [f"green-{n}", 1_000_000 + n, GREEN_AMOUNT],
            )
            self.inserted += 1
            if n % 3 == 0:
                seeded = self.seeded_id(0)
                conn.execute(
                    "UPDATE shop_order SET amount = %s WHERE id = %s", [GREEN_MARK, seeded]
                )
                self.touched[seeded] += 1


class DjangoProcess:
    """``python -m django …`` as the green colour, on the test database, output to a file."""

    def __init__(
        self, conninfo: str, out: Path, app: str, *args: str, batch: int, pause: float
    ) -> None:
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "tests.subprocess_settings",
            "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
            "PYTHONUNBUFFERED": "1",
            "COMPAT_VIEWS_SUBPROCESS_DSN": conninfo,
            "COMPAT_VIEWS_SUBPROCESS_APP": app,
            "COMPAT_VIEWS_SUBPROCESS_BATCH": str(batch),
            "COMPAT_VIEWS_SUBPROCESS_PAUSE": str(pause),
        }
        self.out = out
        self.app = f"compat_green:{app}"
        with open(out, "wb") as sink:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "django", *args],
                cwd=ROOT,
                env=env,
                stdout=sink,
                stderr=subprocess.STDOUT,
            )

    def output(self) -> str:
        return self.out.read_text(errors="replace")

    def alive(self) -> bool:
        return self.proc.poll() is None

    def ensure_dead(self) -> None:
        if self.alive():
            self.proc.kill()
        self.proc.wait(timeout=10)


def one(conn: psycopg.Connection, sql: str, params=None):
    return conn.execute(sql, params).fetchone()


def activity(conn: psycopg.Connection) -> list[tuple]:
    """The other sessions on the test database, for failure messages."""
    return conn.execute(
        "SELECT pid, application_name, state, wait_event_type, wait_event, left(query, 200) "
        "FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
    ).fetchall()


def wait_for(condition, what: str, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out after {timeout}s waiting for {what}"
        time.sleep(0.02)


def test_sigkill_mid_backfill_then_resume_under_both_colours(db, conninfo, tmp_path):
    migrate("shop", "0001")
    rows(
        "INSERT INTO shop_order (customer, amount_cents) "
        "SELECT 'seed', g FROM generate_series(1, %s) g",
        [SEED],
    )
    low, high, count = rows("SELECT min(id), max(id), count(*) FROM shop_order")[0]
    assert (count, high - low + 1) == (SEED, SEED)
    rows(AUDIT)

    monitor = psycopg.connect(conninfo, autocommit=True, application_name="kill-test-monitor")
    blue = Writer(conninfo, "blue", (low, high))
    green = Writer(conninfo, "green", (low, high))
    processes: list[DjangoProcess] = []
    checkpoints: list[tuple[str, int]] = []  # (run, checkpoint) as observed, in order
    try:
        blue.start()
        wait_for(lambda: blue.inserted >= 20, "the legacy writer to start")

        # --- run 1: migrate, killed in the middle of its backfill ----------------------
        killed = DjangoProcess(
            conninfo,
            tmp_path / "migrate.out",
            KILLED_APP,
            "migrate",
            "shop",
            "0002",
            batch=KILLED_BATCH,
            pause=KILLED_PAUSE,
        )
        processes.append(killed)
        blue_at_expand = None
        deadline = time.monotonic() + 40
        while True:
            assert killed.alive(), (
                f"migrate exited ({killed.proc.returncode}) before it could be killed:\n"
                f"{killed.output()}"
            )
            assert time.monotonic() < deadline, "the backfill never got 10% of the way in 40s"
            state = one(monitor, AMOUNT_OPERATION)
            if state is not None:  # the expand has committed
                if blue_at_expand is None:
                    blue_at_expand = blue.inserted
                    green.start()
                status, done, checkpoint = state
                if checkpoint is not None:
                    checkpoints.append(("killed", checkpoint))
                assert status == "pending", (
                    f"the backfill finished ({done} rows) before it could be killed: slow it down"
                )
                if (
                    done >= SEED // 10
                    and green.inserted >= 5
                    and green.touched
                    and blue.inserted >= blue_at_expand + 5
                ):
                    break
            time.sleep(0.01)
        os.kill(killed.proc.pid, signal.SIGKILL)
        killed.proc.wait(timeout=10)
        assert killed.proc.returncode == -signal.SIGKILL, killed.output()
        assert "Traceback" not in killed.output(), killed.output()
        # Its sessions are gone once the server noticed; only then is its last batch final.
        sessions = "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s"
        wait_for(
            lambda: one(monitor, sessions, [killed.app]) == (0,),
            "the killed process's sessions to end",
        )

        # --- the state the kill left ---------------------------------------------------
        assert one(
            monitor,
            "SELECT count(*) FROM django_migrations WHERE app = 'shop' AND name = %s",
            [MIGRATION],
        ) == (1,), "the migration must be recorded: the backfill runs after its commit"
        status, killed_rows, killed_checkpoint = one(monitor, AMOUNT_OPERATION)
        assert status == "pending"
        assert SEED // 10 <= killed_rows <= SEED * 9 // 10, killed_rows
        assert killed_checkpoint is not None and low <= killed_checkpoint < high
        null_rows, null_below = one(
            monitor,
            "SELECT count(*), count(*) FILTER (WHERE id <= %s) FROM shop_order "
            "WHERE amount IS NULL",
            [killed_checkpoint],
        )
        assert null_rows > 0, "the backfill was not unfinished"
        assert null_below == 0, (
            f"{null_below} rows at or below the checkpoint {killed_checkpoint} are still NULL: "
            "the checkpoint ran ahead of the committed batches"
        )
        # Each batch and its checkpoint commit together: the counter matches what was filled.
        (filled_by_killed,) = one(
            monitor, "SELECT count(*) FROM kill_test_audit WHERE app = %s", [killed.app]
        )
        assert filled_by_killed == killed_rows, (
            f"the killed run filled {filled_by_killed} rows but its backfill_rows says "
            f"{killed_rows}"
        )

        time.sleep(0.3)  # both colours keep writing while nothing backfills

        # --- run 2: compat backfill resumes and finishes -------------------------------
        resumed = DjangoProcess(
            conninfo,
            tmp_path / "backfill.out",
            RESUMED_APP,
            "compat",
            "backfill",
            batch=RESUMED_BATCH,
            pause=RESUMED_PAUSE,
        )
        processes.append(resumed)
        deadline = time.monotonic() + 40
        while resumed.alive():
            assert time.monotonic() < deadline, (
                f"compat backfill did not finish in 40s:\n{resumed.output()}\n"
                f"sessions: {activity(monitor)}"
            )
            checkpoint = one(monitor, AMOUNT_OPERATION)[2]
            checkpoints.append(("resumed", checkpoint))
            time.sleep(0.01)
        assert resumed.proc.returncode == 0, resumed.output()
        match = re.search(r"Backfill done: (\d+) rows filled\.", resumed.output())
        assert match, resumed.output()
        resumed_rows = int(match.group(1))

        time.sleep(0.3)  # and after it
    finally:
        for process in processes:
            process.ensure_dead()
        blue.stop.set()
        green.stop.set()
        for writer in (blue, green):
            if writer.ident is not None:  # started
                writer.join(timeout=30)
        monitor.close()
    assert not blue.is_alive() and not green.is_alive()

    # --- writers --------------------------------------------------------------------------
    assert blue.errors == [] and green.errors == []
    assert blue.inserted > 0 and green.inserted > 0 and blue.touched and green.touched

    # --- the backfill's own bookkeeping --------------------------------------------------
    status, total_rows, final_checkpoint = rows(AMOUNT_OPERATION)[0]
    assert status == "done"
    assert final_checkpoint >= high
    assert total_rows == killed_rows + resumed_rows, (total_rows, killed_rows, resumed_rows)
    observed = [c for _, c in checkpoints if c is not None]
    went_back = [(a, b) for a, b in zip(observed, observed[1:], strict=False) if b < a]
    assert went_back == [], f"the checkpoint went backwards (restarted?): {went_back[:5]}"
    resumed_seen = [c for run, c in checkpoints if run == "resumed"]
    assert all(c is not None and c >= killed_checkpoint for c in resumed_seen), (
        f"the resumed run did not start from the checkpoint {killed_checkpoint}: "
        f"{sorted(set(resumed_seen), key=str)[:5]}"
    )

    # --- what the two backfill runs wrote (the audit trigger) ----------------------------
    by_run = dict(rows("SELECT app, count(*) FROM kill_test_audit GROUP BY app"))
    assert by_run == {
        f"compat_green:{KILLED_APP}": killed_rows,
        f"compat_green:{RESUMED_APP}": resumed_rows,
    }, by_run
    assert rows("SELECT count(*) - count(DISTINCT id) FROM kill_test_audit") == [(0,)], (
        "a row was backfilled twice"
    )
    rewrites = rows(
        "SELECT id, app, old_amount, new_amount, old_cents, new_cents, rest_unchanged "
        "FROM kill_test_audit WHERE old_amount IS NOT NULL OR new_amount IS NULL "
        "OR NOT rest_unchanged OR new_amount <> new_cents / 100.0 ORDER BY id LIMIT 10"
    )
    assert rewrites == [], f"the backfill rewrote rows (first 10): {rewrites}"
    assert rows(
        "SELECT count(*) FROM kill_test_audit WHERE app = %s AND id <= %s",
        [f"compat_green:{RESUMED_APP}", killed_checkpoint],
    ) == [(0,)], "the resumed run filled rows below the killed run's checkpoint"

    # --- every row ------------------------------------------------------------------------
    assert not set(blue.touched) & set(green.touched)
    for writer in (blue, green):
        rows(
            "INSERT INTO kill_test_touched SELECT unnest(%s::bigint[]), %s, unnest(%s::int[])",
            [list(writer.touched), writer.colour, list(writer.touched.values())],
        )
    green_rows = "(customer LIKE 'green-%' OR id IN (SELECT id FROM kill_test_touched t "
    green_rows += "WHERE t.colour = 'green'))"
    assert rows("SELECT count(*) FROM shop_order") == [(SEED + blue.inserted + green.inserted,)]
    assert rows("SELECT count(*) FROM shop_order WHERE amount IS NULL") == [(0,)]
    wrong = rows(
        "SELECT id, customer, amount_cents, amount FROM shop_order "
        f"WHERE amount IS DISTINCT FROM amount_cents / 100.0 AND NOT {green_rows} "
        "ORDER BY id LIMIT 10"
    )
    assert wrong == [], f"rows with amount <> up(legacy) not written by green (first 10): {wrong}"
    assert rows(
        f"SELECT count(*), count(*) FILTER (WHERE amount = {GREEN_AMOUNT}) FROM shop_order "
        "WHERE customer LIKE 'green-%'"
    ) == [(green.inserted, green.inserted)], "a row green inserted lost green's amount"
    assert rows(
        f"SELECT count(*), count(*) FILTER (WHERE o.amount = {GREEN_MARK}) "
        "FROM kill_test_touched t JOIN shop_order o USING (id) WHERE t.colour = 'green'"
    ) == [(len(green.touched), len(green.touched))], "a seeded row green updated lost its amount"

    # --- legacy values were never rewritten ----------------------------------------------
    changed = rows(
        "SELECT s.id, s.customer, s.amount_cents, o.customer, o.amount_cents, t.updates "
        "FROM kill_test_seed s JOIN shop_order o USING (id) "
        "LEFT JOIN kill_test_touched t ON t.id = s.id AND t.colour = 'blue' "
        "WHERE (o.customer, o.amount_cents) "
        "<> (s.customer, s.amount_cents + coalesce(t.updates, 0)) "
        "ORDER BY s.id LIMIT 10"
    )
    assert changed == [], (
        "legacy values of seeded rows differ from the seed plus blue's own updates "
        f"(id, seeded customer, seeded cents, customer, cents, blue updates; first 10): {changed}"
    )

    # --- no row missed: every seeded row nobody else wrote was filled by the backfill ----
    missed = rows(
        "SELECT count(*) FROM kill_test_seed s "
        "WHERE NOT EXISTS (SELECT 1 FROM kill_test_touched t WHERE t.id = s.id) "
        "AND NOT EXISTS (SELECT 1 FROM kill_test_audit a WHERE a.id = s.id)"
    )
    assert missed == [(0,)], f"seeded rows the backfill never filled: {missed}"
    untouched = SEED - len(blue.touched) - len(green.touched)
    assert untouched <= total_rows <= SEED + blue.inserted
