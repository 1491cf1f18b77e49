"""Measure the backfill of a big table: rate, WAL and writer latency against one plain UPDATE,
and the backfilling process's peak memory at two table sizes.

The figures the "big tables" acceptance point asks for, measured in one run:

* one plain ``UPDATE … SET new = up(old)`` of the whole table (the new column added
  plainly, no trigger) on a copy of the release-1 table: rows/s and the WAL it wrote;
* the library's backfill of the same table, run by ``migrate`` of ``AlterCompatColumn``
  in a process of its own (``--child``), while a legacy-colour writer updates random
  orders and inserts new ones through the view the whole time: rows/s, WAL, the
  writer's latency, and the process's peak RSS (its own ``ru_maxrss``);
* the same backfill, alone, on a table of ``--rss-rows`` rows: peak RSS again, so the
  ratio shows whether memory grows with the table.

The table is sync_cost.py's order (bigint identity key, a foreign key, two indexed
columns, text and timestamps), filled by one ``INSERT … SELECT generate_series`` and
``VACUUM ANALYZE``d, and this bench reuses that bench's set-up, writer and clocks.
The backfill runs with the library's default batch size. It is timed from its first
batch's start to its last batch's end; WAL is the server's WAL insert position
moving over the same span, so the backfill's figure includes the writer's few
statements. The throwaway server runs with ``full_page_writes=off``, so neither WAL
figure has full-page images. Only correctness is asserted (every row has ``new =
up(legacy)``, the backfill finished); timings get a verdict per target, never an
assertion.

Run from the repository root: ``python bench/scale.py [--rows 10000000]
[--rss-rows 1000000] [--writer-rate 200] [--json PATH]``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import time
from collections.abc import Sequence
from contextlib import redirect_stdout
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psycopg
from django.core.management import call_command
from django.db import connections

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # this checkout, not an install
from bench.common import (  # noqa: E402
    LEGACY_COLOUR,
    Results,
    Table,
    Target,
    configure_django,
    database,
    expect,
    json_option,
    positive,
    run_bench,
)
from bench.sync_cost import (  # noqa: E402
    ALTER,
    APP,
    COLUMN,
    CUSTOMERS,
    TABLE,
    TARGET_BACKFILL_SHARE,
    TARGET_WRITER_P99_MS,
    Backfill,
    BatchClock,
    Writer,
    alter_operation,
    connect,
    count_up_mismatches,
    median,
    plain_update,
    read_shape,
    release1,
    wal_bytes_since,
    wal_lsn,
)
from compat_views.testing.postgres import DSN_ENV, server_from_dsn  # noqa: E402

if TYPE_CHECKING:
    from compat_views.testing.postgres import Server

TARGET_RSS_RATIO = 1.10
STARTED = "first batch started"  # the child's line that releases the writer
MB = 1024 * 1024


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=positive, default=10_000_000, help="table rows")
    parser.add_argument(
        "--rss-rows",
        type=positive,
        default=1_000_000,
        help="rows of the smaller table whose backfill's peak RSS is compared",
    )
    parser.add_argument(
        "--writer-rate", type=positive, default=200, help="statements/s of the legacy writer"
    )
    parser.add_argument("--child", metavar="DBNAME", help=argparse.SUPPRESS)
    json_option(parser)
    return parser.parse_args(argv)


class LegacyWriter(Writer):
    """The legacy colour's connection: every other statement inserts an order through the
    view instead of updating one, so the trigger fills new rows as the backfill walks."""

    INSERT = (
        f"INSERT INTO {TABLE} (customer_id, status, created_at, updated_at, currency, "
        f"{COLUMN}, qty, note) VALUES (%s, 'new', now(), now(), 'EUR', %s, 1, 'bench insert')"
    )

    def statement(self, rng: random.Random) -> tuple[str, list[Any]]:
        if rng.random() < 0.5:
            return super().statement(rng)
        return self.INSERT, [rng.randint(1, CUSTOMERS), rng.randint(0, 999_999)]


# The backfilling process -----------------------------------------------------------------


def backfill_child(dbname: str) -> int:
    """``migrate`` the table to release 2 in this process, which does nothing else, and print
    one JSON line: the batches' span and CPU, the WAL over that span, this process's peak RSS.

    It prints ``STARTED`` when the first batch starts (the parent then releases the
    writer); the backfill's progress lines go to stderr, so stdout carries only these.
    """
    server = server_from_dsn(os.environ[DSN_ENV])
    configure_django(server, APP)
    conninfo = server.conninfo(dbname)
    marks: dict[str, str] = {}

    def first_batch() -> None:
        with psycopg.connect(conninfo, autocommit=True) as conn:
            marks["wal"] = wal_lsn(conn)
        print(STARTED, file=sys.__stdout__, flush=True)

    clock = BatchClock(first_batch)
    connection = connections["default"]
    connection.ensure_connection()
    started = time.perf_counter()
    with connection.execute_wrapper(clock), redirect_stdout(sys.stderr):
        call_command("migrate", APP, ALTER, verbosity=0)
    ended = time.perf_counter()
    with psycopg.connect(conninfo, autocommit=True) as conn:
        wal_bytes = wal_bytes_since(conn, marks["wal"]) if marks else 0
    print(
        json.dumps(
            {
                "ddl": ended - started - clock.span,
                "span": clock.span,
                "cpu": clock.cpu_span,
                "batches": clock.seconds,
                "wal_bytes": wal_bytes,
                "rss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
            }
        ),
        flush=True,
    )
    return 0


@dataclass(frozen=True)
class Run:
    """One backfill as the child measured it, and the peak RSS of the process that ran it."""

    backfill: Backfill
    rss_bytes: int


def library_backfill(server: Server, dbname: str, rows: int, rate: int | None) -> Run:
    """Expand ``dbname``'s table through ``migrate`` in a child process, with a legacy
    writer (``rate`` statements/s) released by the first batch, or none."""
    writers = [LegacyWriter(server, dbname, LEGACY_COLOUR, rows, rate)] if rate else []
    for writer in writers:
        writer.start()
        writer.ready.wait()
    connections["default"].close()
    child = subprocess.Popen(
        [sys.executable, __file__, "--child", dbname],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, DSN_ENV: server.conninfo(dbname)},
    )
    lines = []
    try:
        for line in iter(child.stdout.readline, ""):
            if line.strip() == STARTED:
                for writer in writers:
                    writer.go.set()
            else:
                lines.append(line)
        child.wait()
    finally:
        stats = [writer.finish() for writer in writers]
    expect(child.returncode == 0 and bool(lines), f"the backfill process exited {child.returncode}")
    measured = json.loads(lines[-1])
    label = "compat_views backfill" + (", legacy writer" if writers else ", alone")
    with connect(server, dbname) as conn:
        wrong = count_up_mismatches(conn, read_shape(), alter_operation().up)
    expect(wrong == 0, f"{label}: {wrong} rows do not have {COLUMN} = up(legacy)")
    from compat_views.models import AppliedOperation

    operation = AppliedOperation.objects.get(rollout__status="pending", touched__table=TABLE)
    expect(
        operation.backfill_status == "done" and bool(measured["batches"]),
        f"{label}: after migrate the backfill is {operation.backfill_status!r}, not 'done'",
    )
    connections["default"].close()
    batches = measured["batches"]
    backfill = Backfill(
        f"{label} ({rows:,} rows)",
        rows,
        max(1, rows // len(batches)),
        measured["ddl"],
        measured["span"],
        measured["cpu"],
        batches,
        stats,
        measured["wal_bytes"],
    )
    return Run(backfill, measured["rss_kb"] * 1024)


def on(dbname: str) -> None:
    """Point Django's default alias at ``dbname`` (``database`` leaves it on the last one made)."""
    connections["default"].close()
    connections["default"].settings_dict["NAME"] = dbname


# Measurements ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Measured:
    plain: Backfill
    big: Run
    small: Run


def measure(server: Server, args: argparse.Namespace) -> Measured:
    """The small table's lone backfill first (quick, and it fails early if anything is
    wrong), then the big table: the plain UPDATE on a copy, the backfill on the original."""
    print(f"backfill of {args.rss_rows:,} rows, alone (peak RSS at the smaller size):", flush=True)
    with database(server, "small") as small_db:
        release1(server, small_db, args.rss_rows)
        small = library_backfill(server, small_db, args.rss_rows, None)
    print(f"  {small.backfill.seconds:.1f} s", flush=True)
    print(f"{args.rows:,} rows:", flush=True)
    with database(server, "big") as big_db:
        release1(server, big_db, args.rows)
        type_sql = alter_operation().field.db_type(connections["default"])
        plain = plain_update(server, big_db, args.rows, alter_operation().up, type_sql)
        print(f"  {plain.label}: {plain.seconds:.1f} s", flush=True)
        on(big_db)
        big = library_backfill(server, big_db, args.rows, args.writer_rate)
        print(f"  {big.backfill.label}: {big.backfill.seconds:.1f} s", flush=True)
    return Measured(plain, big, small)


def report(results: Results, args: argparse.Namespace, measured: Measured) -> None:
    plain, big, small = measured.plain, measured.big, measured.small
    runs = [(plain, None), (big.backfill, big.rss_bytes), (small.backfill, small.rss_bytes)]
    rows = [
        [
            run.label,
            f"{run.seconds:.1f}",
            f"{run.rate:,.0f}",
            # Rates of another table size are not compared: its indexes fit in memory.
            *(
                [f"{run.rate / plain.rate:.0%}", f"{run.cpu_rate / plain.cpu_rate:.0%}"]
                if run.rows == plain.rows
                else ["", ""]
            ),
            f"{run.batch:,}",
            f"{run.wal_bytes / MB:,.0f}",
            f"{run.wal_bytes / run.rows:.0f}",
            f"{run.wal_bytes / run.rows / (plain.wal_bytes / plain.rows):.2f}×",
            f"{rss / MB:.1f}" if rss else "",
        ]
        for run, rss in runs
    ]
    (writer,) = big.backfill.writers
    pace = f"paced at {args.writer_rate}/s"
    results.tables += [
        Table(
            f"Backfill of a {args.rows:,}-row table against one plain UPDATE, in one run",
            [
                "method",
                "fill s",
                "rows/s",
                "of plain",
                "of plain (CPU)",
                "rows/statement",
                "WAL MiB",
                "WAL B/row",
                "WAL × plain",
                "peak RSS MiB",
            ],
            rows,
            [
                "of plain: wall rows/s against the plain UPDATE's; (CPU): rows per second of "
                "the server backend's CPU, steadier on a shared machine",
                "WAL: the server's over the fill (the backfill's includes the writer's "
                f"{len(writer.latencies):,} statements); full_page_writes is off",
                "peak RSS: ru_maxrss of the process that ran migrate and the backfill",
                f"median batch statement: {median(big.backfill.statements) * 1000:.1f} ms",
            ],
        ),
        Table(
            f"Legacy writer during the {args.rows:,}-row backfill (UPDATE or INSERT through "
            f"the view, {pace})",
            ["statements", "p50 ms", "p99 ms", "max ms"],
            [
                [
                    f"{len(writer.latencies):,}",
                    *(f"{writer.ms(share):.2f}" for share in (0.5, 0.99, 1.0)),
                ]
            ],
        ),
    ]
    results.targets += [
        Target(
            f"backfill of {args.rows:,} rows, of one plain UPDATE's rows/s",
            big.backfill.rate / plain.rate,
            TARGET_BACKFILL_SHARE,
            "%",
            at_least=True,
        ),
        Target(
            f"legacy writer p99 during the {args.rows:,}-row backfill",
            writer.ms(0.99),
            TARGET_WRITER_P99_MS,
            "ms",
        ),
        Target(
            f"peak RSS of the backfill, {args.rows:,} rows ÷ {args.rss_rows:,} rows",
            big.rss_bytes / small.rss_bytes,
            TARGET_RSS_RATIO,
            "×",
        ),
    ]
    results.tables[0].notes.append(
        f"WAL written by the backfill ÷ by the plain UPDATE: "
        f"{big.backfill.wal_bytes / plain.wal_bytes:.2f}×"
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.child:
        return backfill_child(args.child)
    return run_bench(
        APP,
        "scale",
        args.json,
        lambda server: measure(server, args),
        lambda results, measured: report(results, args, measured),
    )


if __name__ == "__main__":
    sys.exit(main())
