"""Faults at each step of a rollout: SIGKILL of the command, or a server restart; then the
library's own commands converge, with every row of a ledger kept in both shapes.

The scenario (``tests.error_migrations.faults``) takes every kind of step on one table:
expand (lock, columns, step functions, view, sync triggers), two backfills in batches,
two indexes built concurrently, and at complete a validated CHECK for ``SET NOT NULL``,
the drop of the view and triggers, the index handed to its constraint and the drop of
the legacy schema. Each step is made deterministic by a blocker the test holds: a lock
the step needs (the table, the rollout's state row, a writer's lock that a concurrent
index build waits out) or a gate (an event trigger or row trigger, ``fault_gate``,
that makes the killed process's statement wait on an advisory lock the test holds).
The test waits in ``pg_blocking_pids`` until the command waits on it, then kills.

Then: ``compat status`` describes a consistent catalog (no view or trigger missing or
changed), the command run again finishes, and every ledger row reads right through the
legacy view and the base table, then in the final shape after complete (or in the old
shape after rollback), with nothing of the compat layer left.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

import psycopg
import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import connections
from django.test import override_settings

from compat_views import status
from tests.harness import applied, close_legacy, columns, compat, leftovers, migrate, rows
from tests.test_backfill_kill import DjangoProcess, wait_for
from tests.writers import new_shape

SEED = 1000
BATCH = 100  # the killed process's backfill batches: ten a column
SHOP = "tests.error_migrations.faults"
MIGRATION = "0002_add_amount_code"
KILLED = "fault-killed"
ADVISORY_KEY = 7_415_001

GATE = f"""
CREATE TABLE public.fault_gate (patterns text[], "column" text, row_id bigint);
-- The wait is the point: no lock_timeout of the caller's may cut it short.
CREATE FUNCTION public.fault_gate_wait() RETURNS void LANGUAGE sql SET lock_timeout = 0
AS 'SELECT pg_catalog.pg_advisory_xact_lock({ADVISORY_KEY})';
CREATE FUNCTION public.fault_gate_ddl() RETURNS event_trigger LANGUAGE plpgsql AS $$
BEGIN
    IF pg_catalog.current_setting('application_name') = 'compat_green:{KILLED}'
       AND EXISTS (SELECT FROM public.fault_gate g
                   WHERE pg_catalog.current_query() LIKE ANY (g.patterns))
    THEN PERFORM public.fault_gate_wait(); END IF;
END $$;
CREATE EVENT TRIGGER fault_gate_ddl ON ddl_command_start
    WHEN TAG IN ('ALTER TABLE', 'ALTER INDEX', 'CREATE FUNCTION', 'CREATE INDEX',
                 'CREATE TRIGGER', 'CREATE VIEW', 'DROP FUNCTION', 'DROP SCHEMA',
                 'DROP TRIGGER', 'DROP VIEW')
    EXECUTE FUNCTION public.fault_gate_ddl();
CREATE FUNCTION public.fault_gate_row() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT FROM public.fault_gate g WHERE g.row_id = OLD.id
               AND pg_catalog.to_jsonb(OLD) ->> g."column" IS NULL
               AND pg_catalog.to_jsonb(NEW) ->> g."column" IS NOT NULL)
    THEN PERFORM public.fault_gate_wait(); END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER fault_gate_row BEFORE UPDATE ON public.shop_order FOR EACH ROW
    WHEN (pg_catalog.current_setting('application_name') = 'compat_green:{KILLED}')
    EXECUTE FUNCTION public.fault_gate_row();
-- A backfill may run with session_replication_role = replica; the gate must see it.
ALTER TABLE public.shop_order ENABLE ALWAYS TRIGGER fault_gate_row;
"""
UNGATE = """
DROP EVENT TRIGGER fault_gate_ddl;
DROP TRIGGER fault_gate_row ON public.shop_order;
DROP FUNCTION public.fault_gate_ddl(), public.fault_gate_row(), public.fault_gate_wait();
DROP TABLE public.fault_gate;
"""


@dataclass(frozen=True)
class Blocker:
    """What the test holds so that one step of the command waits: ``sql`` run in an open
    transaction (a lock), or a gate on a statement (``patterns``: LIKE on its text, any
    of them) or on the batch of a backfill that fills ``column`` of row ``row``."""

    sql: str = ""
    patterns: tuple[str, ...] = ()
    column: str | None = None
    row: int | None = None

    def hold(self, conninfo: str) -> psycopg.Connection:
        """Hold it on a connection of its own; closing the connection lets go.

        A gate's advisory lock is held by the session, outside any transaction: an open
        transaction would itself hold up a concurrent index build."""
        if self.sql:
            conn = psycopg.connect(conninfo, application_name="fault-blocker")
            conn.execute(self.sql)
            return conn
        conn = psycopg.connect(conninfo, application_name="fault-blocker", autocommit=True)
        conn.execute(
            "INSERT INTO public.fault_gate VALUES (%s, %s, %s)",
            [list(self.patterns), self.column, self.row],
        )
        conn.execute("SELECT pg_catalog.pg_advisory_lock(%s)", [ADVISORY_KEY])
        return conn


TABLE = Blocker("LOCK TABLE public.shop_order IN ACCESS SHARE MODE")
STATE_ROW = Blocker("SELECT FROM compat_views_rollout WHERE status = 'pending' FOR UPDATE")
# A writer's open transaction: a concurrent index build waits it out, its index invalid.
# Taken once the build is about to start (after the expand, which it would block).
WRITER = Blocker("LOCK TABLE public.shop_order IN ROW EXCLUSIVE MODE")


def gate(*patterns: str) -> Blocker:
    return Blocker(patterns=patterns)


def batch(column: str, number: int) -> Blocker:
    """The ``number``-th batch (from 1) of the backfill of ``column``."""
    return Blocker(column=column, row=(number - 1) * BATCH + 1)


MIGRATE_STEPS = {
    "expand-lock": TABLE,
    "expand-add-column": gate('%ADD COLUMN "amount"%'),
    "expand-step-function": gate('CREATE FUNCTION "public"."_compat_step_%'),
    "expand-view": gate('CREATE VIEW "compat_blue"%'),
    "expand-sync-trigger": gate("%EXECUTE PROCEDURE%"),  # pgtrigger's install
    "expand-second-operation": gate('%ADD COLUMN "code"%'),
    "backfill-first-batch": batch("amount", 1),
    "backfill-mid-batch": batch("amount", 4),
    "backfill-second-column": batch("code", 6),
    "unique-index-start": gate("CREATE UNIQUE INDEX CONCURRENTLY%"),
    "unique-index-mid-build": (gate("CREATE UNIQUE INDEX CONCURRENTLY%"), WRITER),
    "second-index": gate("%varchar_pattern_ops%"),
}
COMPLETE_STEPS = {
    "not-null-check": gate("%ADD CONSTRAINT%NOT VALID"),
    "validate": gate("%VALIDATE CONSTRAINT%"),
    "state-row": STATE_ROW,
    "drop-trigger": gate("DROP TRIGGER%"),
    "drop-view": gate("DROP VIEW%"),
    # PostgreSQL 18 names the NOT NULL: ADD CONSTRAINT "name" NOT NULL "column".
    "set-not-null": gate("%SET NOT NULL", '%" NOT NULL "%'),
    "unique-constraint": gate("%UNIQUE USING INDEX%"),
    "drop-legacy-schema": gate("DROP SCHEMA%"),
}
ROLLBACK_STEPS = {
    "state-row": STATE_ROW,
    "drop-trigger": gate("DROP TRIGGER%"),
    "drop-view": gate("DROP VIEW%"),
    "drop-column": gate("%DROP COLUMN%"),
    "drop-legacy-schema": gate("DROP SCHEMA%"),
}
COMMANDS = {"migrate": ("migrate", "shop"), "complete": ("compat", "complete")}
COMMANDS["rollback"] = ("compat", "rollback")


class Ledger:
    """Every row the test wrote, as each shape must read it; ``None`` for a new column
    means "what ``up`` gives" (the sync trigger's or the backfill's value)."""

    def __init__(self) -> None:
        self.rows: dict[int, list] = {}  # id -> [customer, cents, amount, code]
        self.writes = 0

    def seed(self, count: int = SEED) -> None:
        rows(
            "INSERT INTO shop_order (customer, amount_cents) "
            "SELECT 'seed', g FROM generate_series(1, %s) g",
            [count],
        )
        for row_id, cents in rows("SELECT id, amount_cents FROM shop_order"):
            self.rows[row_id] = ["seed", cents, None, None]

    def write(self, conninfo: str, colour: str, expanded: bool = True) -> None:
        """A few inserts, updates and a delete as ``colour``, on rows only it touches
        (odd seeded ids for blue, even for green), so each row's value is known."""
        options = f"-c search_path=compat_{colour},public"
        with psycopg.connect(conninfo, autocommit=True, options=options) as conn:
            mine = sorted(i for i in self.rows if i <= SEED and i % 2 == (colour == "blue"))
            for _ in range(5):
                self.writes += 1
                tag, n = f"{colour}-{self.writes}", 10_000 + self.writes  # code is unique
                if colour == "blue" or not expanded:
                    (row_id,) = conn.execute(
                        "INSERT INTO shop_order (customer, amount_cents) VALUES (%s, %s) "
                        "RETURNING id",
                        [tag, n],
                    ).fetchone()
                    self.rows[row_id] = [tag, n, None, None]
                else:
                    (row_id,) = conn.execute(
                        "INSERT INTO shop_order (customer, amount_cents, amount, code) "
                        "VALUES (%s, %s, -1, %s) RETURNING id",
                        [tag, n, tag],
                    ).fetchone()
                    self.rows[row_id] = [tag, n, Decimal("-1.00"), tag]
            updated, deleted = mine[self.writes % 50], mine[-(self.writes % 50) - 1]
            if colour == "blue" or not expanded:
                conn.execute(
                    "UPDATE shop_order SET amount_cents = amount_cents + 1000000 WHERE id = %s",
                    [updated],
                )
                self.rows[updated][1] += 1_000_000
                self.rows[updated][2:] = [None, None]
            else:
                conn.execute("UPDATE shop_order SET amount = -2 WHERE id = %s", [updated])
                self.rows[updated][2] = Decimal("-2.00")
            conn.execute("DELETE FROM shop_order WHERE id = %s", [deleted])
            del self.rows[deleted]

    def verify_legacy(self, relation: str) -> None:
        got = {i: [c, a] for i, c, a in rows(f"SELECT id, customer, amount_cents FROM {relation}")}
        assert got == {i: row[:2] for i, row in self.rows.items()}

    def verify_new(self, filled: bool = True) -> None:
        """The rows as the new colour reads them; unless ``filled``, a backfill may not have
        reached a row yet (its new columns NULL, never wrong)."""
        got = {
            i: [c, a, m, k]
            for i, c, a, m, k in rows(
                "SELECT id, customer, amount_cents, amount, code FROM public.shop_order"
            )
        }
        want = {i: new_shape(row) for i, row in self.rows.items()}
        if not filled:
            for i, row in self.rows.items():
                if i in got and row[2] is None and got[i][2] is None:
                    want[i][2] = None
                if i in got and row[3] is None and got[i][3] is None:
                    want[i][3] = None
        wrong = {i: (got.get(i), want[i]) for i in want if got.get(i) != want[i]}
        assert (len(got), wrong) == (len(want), {})

    def verify_both(self) -> None:
        self.verify_legacy("compat_blue.shop_order")
        self.verify_new()


@pytest.fixture
def shop(pg_server, monkeypatch):
    """The shop app with the fault scenario's migrations, here and in subprocesses.

    A backend blocked on a lock would otherwise notice its killed client only when the
    lock is let go, and then finish a statement outside a transaction (an index build)
    first; ``client_connection_check_interval`` makes it give up while it waits.
    """
    if pg_server.version_num < 140000:
        pytest.skip("client_connection_check_interval needs PostgreSQL 14 or newer")
    monkeypatch.setenv("PGOPTIONS", "-c client_connection_check_interval=50")
    monkeypatch.setenv("COMPAT_VIEWS_SUBPROCESS_SHOP", SHOP)
    with override_settings(MIGRATION_MODULES={**settings.MIGRATION_MODULES, "shop": SHOP}):
        yield


def start(conninfo: str, tmp_path, command: str) -> DjangoProcess:
    return DjangoProcess(
        conninfo,
        tmp_path / f"{command}.out",
        KILLED,
        *COMMANDS[command],
        "--settings",
        "tests.errors_settings",
        batch=BATCH,
        pause=0,
    )


def wait_blocked(monitor: psycopg.Connection, process: DjangoProcess, blocker_pid: int) -> None:
    """Until one of the process's sessions waits on a lock the blocker holds."""
    waiting = (
        "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s "
        "AND %s = ANY(pg_catalog.pg_blocking_pids(pid))"
    )

    def blocked() -> bool:
        assert process.alive(), f"it ended before the step:\n{process.output()}"
        return monitor.execute(waiting, [process.app, blocker_pid]).fetchone()[0] > 0

    wait_for(blocked, "the command to wait on the blocker", timeout=60)


def wait_sessions_gone(monitor: psycopg.Connection, process: DjangoProcess) -> None:
    sessions = "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s"
    wait_for(
        lambda: monitor.execute(sessions, [process.app]).fetchone() == (0,),
        "the killed process's sessions to end",
    )


def set_up(conninfo: str, command: str, ledger: Ledger) -> None:
    """Release 1 with seeded rows; before complete or rollback, the rollout expanded and
    written by both colours. No session of either colour stays connected."""
    migrate("shop", "0001", database="legacy")
    ledger.seed()
    ledger.write(conninfo, "blue", expanded=False)
    if command != "migrate":
        migrate("shop", "0002")
        ledger.write(conninfo, "blue")
        ledger.write(conninfo, "green")
        ledger.verify_both()
    close_legacy()
    rows(GATE)
    connections["default"].close()  # rollback refuses while a green session is connected


def sigkill(monitor: psycopg.Connection, process: DjangoProcess) -> None:
    os.kill(process.proc.pid, signal.SIGKILL)
    assert process.proc.wait(timeout=10) == -signal.SIGKILL, process.output()
    # Its backends notice the lost client while they wait (the check interval): the
    # statement they were blocked on never runs, and their transactions abort.
    wait_sessions_gone(monitor, process)


def interrupt(
    conninfo: str,
    tmp_path,
    command: str,
    path: Blocker | tuple[Blocker, ...],
    fault: Callable[[psycopg.Connection, DjangoProcess], None] = sigkill,
) -> DjangoProcess:
    """Run ``command`` in a subprocess, strike it with ``fault`` while it waits on the
    last blocker of ``path``, then let go. Each earlier blocker holds the command until
    the next one is held."""
    path = path if isinstance(path, tuple) else (path,)
    monitor = psycopg.connect(conninfo, autocommit=True, application_name="fault-monitor")
    held = [path[0].hold(conninfo)]
    process = start(conninfo, tmp_path, command)
    try:
        wait_blocked(monitor, process, held[-1].info.backend_pid)
        for blocker in path[1:]:
            held.append(blocker.hold(conninfo))
            held.pop(-2).close()
            wait_blocked(monitor, process, held[-1].info.backend_pid)
        fault(monitor, process)
    finally:
        process.ensure_dead()
        for conn in [*held, monitor]:
            conn.close()
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(UNGATE)
    return process


def assert_consistent() -> dict:
    """What ``compat status`` reports, and that it describes no half-made object: each
    touched table's view and triggers as the state renders them, or none at all."""
    call_command("compat", "status", verbosity=0)
    report = status.report("default")
    if report["rollout"] is None:
        assert leftovers() == {}
    else:
        drifted = {t["table"]: t["drift"] for t in report["rollout"]["tables"] if t["drift"]}
        assert drifted == {}
    return report


def assert_finished(shape: str, ledger: Ledger) -> None:
    assert assert_consistent()["rollout"] is None
    assert (
        rows(
            "SELECT conname FROM pg_constraint WHERE conrelid = 'shop_order'::regclass "
            "AND conname LIKE '\\_compat\\_%' UNION ALL SELECT indexrelid::regclass::text "
            "FROM pg_index WHERE indrelid = 'shop_order'::regclass AND NOT indisvalid"
        )
        == []
    )
    if shape == "new":
        assert columns("shop_order") == ["id", "customer", "amount_cents", "amount", "code"]
        assert applied("shop")[-1] == MIGRATION
        ledger.verify_new()
    else:
        assert columns("shop_order") == ["id", "customer", "amount_cents"]
        assert MIGRATION not in applied("shop")
        ledger.verify_legacy("public.shop_order")


def converge(command: str, ledger: Ledger, conninfo: str) -> None:
    """Run the killed command again, then end the rollout the way it was going."""
    if command == "migrate":
        migrate("shop", "0002")
        assert assert_consistent()["rollout"]["pending_work"] == []
        ledger.verify_both()
        ledger.write(conninfo, "blue")
        ledger.write(conninfo, "green")
        command = "complete"
    compat(command)
    assert_finished("old" if command == "rollback" else "new", ledger)


BLOCKERS = {"migrate": MIGRATE_STEPS, "complete": COMPLETE_STEPS, "rollback": ROLLBACK_STEPS}
STEPS = [(command, step) for command, steps in BLOCKERS.items() for step in steps]


@pytest.mark.parametrize(("command", "step"), STEPS, ids=[f"{c}-{s}" for c, s in STEPS])
def test_sigkill_at_each_step_then_the_commands_converge(
    db, conninfo, tmp_path, shop, command, step
):
    ledger = Ledger()
    set_up(conninfo, command, ledger)
    interrupt(conninfo, tmp_path, command, BLOCKERS[command][step])

    report = assert_consistent()
    if command == "migrate" and step.startswith("expand"):
        # The expand is one transaction: the kill undid all of it.
        assert report["rollout"] is None and MIGRATION not in applied("shop")
        ledger.verify_legacy("public.shop_order")
    else:  # a rollout is pending: both shapes read every row, whatever was cut short
        assert report["rollout"] is not None
        if step == "unique-index-mid-build":
            builds = report["rollout"]["pending_builds"]
            assert builds[0].endswith("(an interrupted build left it invalid)"), builds
        ledger.verify_legacy("compat_blue.shop_order")
        ledger.verify_new(filled=command != "migrate")
    converge(command, ledger, conninfo)


# What a killed complete left of its NOT NULL check (convalidated), by where it was killed.
CHECK_LEFT = {"not-null-check": [], "validate": [(False,)], "drop-legacy-schema": [(True,)]}


@pytest.mark.parametrize("step", CHECK_LEFT)
def test_complete_killed_then_rolled_back_instead(db, conninfo, tmp_path, shop, step):
    """After a killed complete the operator may change course: the rollback leaves no
    trace of what complete had committed (a CHECK added NOT VALID, or validated)."""
    ledger = Ledger()
    set_up(conninfo, "complete", ledger)
    interrupt(conninfo, tmp_path, "complete", COMPLETE_STEPS[step])
    assert (
        rows(
            "SELECT convalidated FROM pg_constraint WHERE conrelid = 'shop_order'::regclass "
            "AND conname LIKE '\\_compat\\_nn\\_%'"
        )
        == CHECK_LEFT[step]
    )
    converge("rollback", ledger, conninfo)


RESTARTS = {
    "backfill": ("migrate", batch("amount", 4)),
    "complete-validate": ("complete", gate("%VALIDATE CONSTRAINT%")),
    "complete-final-transaction": ("complete", gate("DROP SCHEMA%")),
}


@pytest.mark.parametrize("where", RESTARTS)
def test_server_restart_then_the_commands_converge(db, pg_server, conninfo, tmp_path, shop, where):
    if not pg_server.can_restart:
        pytest.skip(f"a {pg_server.source} server cannot be restarted here, only a local cluster")
    command, blocker = RESTARTS[where]
    ledger = Ledger()
    set_up(conninfo, command, ledger)

    def restart(monitor: psycopg.Connection, process: DjangoProcess) -> None:
        pg_server.restart()
        assert process.proc.wait(timeout=60) not in (0, None), process.output()

    process = interrupt(conninfo, tmp_path, command, blocker, restart)
    said = process.output()
    again = "`manage.py migrate` (or" if command == "migrate" else f"`manage.py compat {command}`"
    assert "ConnectionLost: The connection to database 'default' was lost" in said, said
    assert f"run {again}" in said and "Traceback" not in said, said
    connections.close_all()  # this process's sessions were cut too

    report = assert_consistent()
    assert report["rollout"] is not None
    ledger.verify_legacy("compat_blue.shop_order")
    ledger.verify_new(filled=command != "migrate")
    converge(command, ledger, conninfo)
