"""Measure what reading through a legacy view costs the legacy colour, against the base table.

After ``AlterCompatColumn`` the legacy colour reads ``syncapp_order`` through the view
``compat_blue.syncapp_order``, which shows the aside integer cents under the old name;
the new colour reads the table itself. The view is a plain projection, so PostgreSQL
folds it into each query's plan: the cost should only be the rewrite, paid when a
statement is planned. Three reads, each a prepared statement as Django's connections
would send it: a row by primary key, a range scan on an indexed column, and a join with
the customers. The two sessions take turns every few hundred statements (rotating who
goes first) and each turn is timed on its backend's CPU (``BackendClock``); the ratio is
the median of the per-round ratios, legacy over new. The client and both backends run
on one CPU (``one_cpu``): a backend woken from another CPU than its client's spends
several times the CPU on a lookup by key, and the scheduler keeps a session where it
first put it, so one session could run a whole bench three times slower than the other
whatever it read. Each session's count of generic and custom plans is shown: both
sessions plan alike (a lookup by key runs a generic plan after five custom ones).

Only correctness is asserted: the legacy session resolves the table to the view, and
both sessions read the same orders (the legacy one in cents).

Run from the repository root: ``python bench/read_cost.py [--rows 100000]
[--statements 200] [--repeat 51] [--json PATH]``.
"""

from __future__ import annotations

import argparse
import random
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.db import connections

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # this checkout, not an install
from bench.common import (  # noqa: E402
    BackendClock,
    Chart,
    Results,
    Table,
    Target,
    database,
    expect,
    json_option,
    one_cpu,
    run_bench,
)
from bench.sync_cost import (  # noqa: E402
    APP,
    CUSTOMER_TABLE,
    CUSTOMERS,
    LEGACY_OPTIONS,
    LEGACY_SCHEMA,
    SEED,
    TABLE,
    connect,
    expand,
    median,
    release1,
    rotated,
)

TARGET_READ_RATIO = 1.05
RANGE_MINUTES = 200  # rows a range scan reads: orders are a minute apart


@dataclass(frozen=True)
class Read:
    """One read both colours send, and the parameter of its n-th statement."""

    key: str
    label: str
    sql: str

    def params(self, rng: random.Random, rows: int) -> list[Any]:
        if self.key == "join":
            return [rng.randint(1, CUSTOMERS)]
        if self.key == "range":
            return [rng.randint(0, max(0, rows - RANGE_MINUTES))]
        return [rng.randint(1, rows)]


READS = (
    Read(
        "key",
        "SELECT by primary key",
        f"SELECT id, customer_id, status, amount, qty, note FROM {TABLE} WHERE id = %s",
    ),
    Read(
        "range",
        f"range scan ({RANGE_MINUTES} rows by created_at)",
        f"SELECT count(*), sum(amount), max(status) FROM {TABLE} "
        "WHERE created_at >= timestamptz '2024-06-01' + %s * interval '1 minute' "
        f"AND created_at < timestamptz '2024-06-01' + (%s + {RANGE_MINUTES}) * interval '1 minute'",
    ),
    Read(
        "join",
        "join orders to their customer",
        f"SELECT c.name, count(*), sum(o.amount) FROM {TABLE} AS o "
        f"JOIN {CUSTOMER_TABLE} AS c ON c.id = o.customer_id WHERE o.customer_id = %s "
        "GROUP BY c.name",
    ),
)
COLOURS = ("legacy", "new")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000, help="orders in the table")
    parser.add_argument("--statements", type=int, default=200, help="statements a turn")
    parser.add_argument("--repeat", type=int, default=51, help="rounds per read")
    json_option(parser)
    return parser.parse_args(argv)


def check_sessions(sessions: dict[str, Any]) -> None:
    """The legacy session reads the view, in cents; the new one the table, in euros."""
    legacy, new = sessions["legacy"], sessions["new"]
    where = legacy.execute(
        "SELECT relnamespace::regnamespace::text FROM pg_catalog.pg_class WHERE oid = %s::regclass",
        [TABLE],
    ).fetchone()[0]
    expect(where == LEGACY_SCHEMA, f"the legacy session reads {where}.{TABLE}, not the view")
    cents = legacy.execute(f"SELECT sum(amount) FROM {TABLE}").fetchone()[0]
    euros = new.execute(f"SELECT sum(amount) FROM {TABLE}").fetchone()[0]
    expect(cents == euros * 100, f"legacy reads {cents} cents, the new colour {euros} euros")


PLANS = (
    "SELECT COALESCE(sum(generic_plans), 0)::int, COALESCE(sum(custom_plans), 0)::int "
    "FROM pg_catalog.pg_prepared_statements"
)


def plans(conn) -> tuple[int, int]:
    """(generic, custom) plans the session's prepared statements have run so far: a
    session that plans each lookup anew (custom plans) pays the planner per statement."""
    return conn.execute(PLANS).fetchone()


def measure(server, args: argparse.Namespace) -> tuple[dict, str, dict]:
    """Seconds per turn of ``--statements`` reads, per (read, colour), the clock's kind,
    and the (generic, custom) plans each (read, colour) ran."""
    seconds: dict[tuple[str, str], list[float]] = {}
    ran: dict[tuple[str, str], tuple[int, int]] = {}
    with database(server, "reads") as dbname:
        release1(server, dbname, args.rows)
        expand()
        connections["default"].close()
        with connect(server, dbname, LEGACY_OPTIONS) as legacy, connect(server, dbname) as new:
            # Settled after the backfill, as autovacuum would leave it (it is off on the
            # bench tables): otherwise whichever session first reads a page prunes it.
            new.execute(f"VACUUM ANALYZE {TABLE}")
            sessions = {"legacy": legacy, "new": new}
            check_sessions(sessions)
            clocks = {colour: BackendClock(conn) for colour, conn in sessions.items()}
            pinned = one_cpu(clocks.values())
            for read in READS:
                statement = read.sql.replace("%s", "%(n)s")
                before = {colour: plans(conn) for colour, conn in sessions.items()}
                for turn in range(args.repeat + 1):  # turn 0 warms both up, untimed
                    for colour in rotated(COLOURS, turn):
                        rng = random.Random(f"{SEED}-{read.key}-{turn}")  # same rows for both
                        conn, clock = sessions[colour], clocks[colour]
                        started = clock()
                        for _ in range(args.statements):
                            (n,) = read.params(rng, args.rows)
                            conn.execute(statement, {"n": n}, prepare=True).fetchall()
                        if turn:
                            seconds.setdefault((read.key, colour), []).append(clock() - started)
                for colour, conn in sessions.items():
                    after = plans(conn)
                    ran[read.key, colour] = (
                        after[0] - before[colour][0],
                        after[1] - before[colour][1],
                    )
            print(f"  reads done ({clocks['new'].kind})", flush=True)
    kind = clocks["new"].kind + (", client and both backends on one CPU" if pinned else "")
    return seconds, kind, ran


def ratio(seconds: dict[tuple[str, str], list[float]], read: Read) -> float:
    pairs = zip(seconds[read.key, "legacy"], seconds[read.key, "new"], strict=True)
    return median([legacy / new for legacy, new in pairs])


def report(results: Results, args: argparse.Namespace, seconds, clock: str, ran) -> None:
    rows = []
    for read in READS:
        rates = [args.statements / median(seconds[read.key, colour]) for colour in COLOURS]
        rows.append(
            [
                read.label,
                *(f"{rate:,.0f}" for rate in rates),
                f"{ratio(seconds, read):.3f}×",
                *("{} / {}".format(*ran[read.key, colour]) for colour in COLOURS),
            ]
        )
    results.tables.append(
        Table(
            f"Legacy reads through the view vs the new colour on the base table: {args.rows:,} "
            f"orders, {args.statements} prepared statements a turn, {args.repeat} rounds, "
            f"{clock}, ratio = median of the per-round ratios",
            [
                "read",
                "legacy stmts/s (view)",
                "new stmts/s (table)",
                "legacy / new",
                "legacy plans generic / custom",
                "new plans generic / custom",
            ],
            rows,
            [
                "plans generic / custom: how the session's prepared statements were planned "
                "(pg_prepared_statements), warm-up included"
            ],
        )
    )
    results.charts.append(
        Chart(
            "reads",
            "Legacy read through the view, relative to the base table",
            "time relative to the base table (×)",
            [read.label for read in READS],
            {"legacy colour through the view": [ratio(seconds, read) for read in READS]},
            reference=TARGET_READ_RATIO,
        )
    )
    results.targets += [
        Target(
            f"legacy {read.label} through the view vs the table",
            ratio(seconds, read),
            TARGET_READ_RATIO,
            "×",
        )
        for read in READS
    ]


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    print(f"legacy read cost on {args.rows:,} orders:", flush=True)
    return run_bench(
        APP,
        "read",
        args.json,
        lambda server: measure(server, args),
        lambda results, measured: report(results, args, *measured),
    )


if __name__ == "__main__":
    sys.exit(main())
