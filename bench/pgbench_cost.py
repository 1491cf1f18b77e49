"""Measure the legacy colour's throughput through a rollout with pgbench, against a control.

Two databases in the same cluster start as copies of one release-1 database: the
control is never touched, the other goes through ``AlterCompatColumn``. pgbench runs
the legacy colour's transaction (read an order, add a cent to it) as any non-Django
client joins a colour, with ``PGOPTIONS="-c search_path=compat_blue,public"``, its
statements prepared (``-M prepared``, as psycopg prepares a query it has run five
times): on the control, and before expand, that resolves to the table; during the
rollout to the view,
with the sync trigger computing ``up`` on every write. The two databases take turns in
short rounds (alternating which goes first), so the machine's drift lands on both;
each phase reports the median of the per-pair ratios, rollout over control.

Only correctness is asserted: during the rollout the legacy session resolves to the
view, and after the rounds every order still has ``amount = up(legacy cents)``.

Run from the repository root: ``python bench/pgbench_cost.py [--rows 100000]
[--seconds 3] [--pairs 8] [--clients 2] [--pgbench PATH] [--json PATH]``.
"""

from __future__ import annotations

import argparse
import glob
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from django.db import connections
from psycopg.conninfo import conninfo_to_dict

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # this checkout, not an install
from bench.common import (  # noqa: E402
    SKIPPED,
    Chart,
    Results,
    Table,
    database,
    expect,
    json_option,
    run_bench,
)
from bench.sync_cost import (  # noqa: E402
    APP,
    COLUMN,
    LEGACY_OPTIONS,
    LEGACY_SCHEMA,
    TABLE,
    alter_operation,
    connect,
    count_up_mismatches,
    expand,
    median,
    read_shape,
    release1,
)

# The legacy colour's transaction: read an order, then add a cent to its amount.
SCRIPT = f"""\\set id random(1, {{rows}})
BEGIN;
SELECT {COLUMN}, qty FROM {TABLE} WHERE id = :id;
UPDATE {TABLE} SET {COLUMN} = {COLUMN} + 1 WHERE id = :id;
END;
"""
READ_ONLY = SCRIPT.split("UPDATE")[0] + "END;\n"  # the same read without the write
_TPS = re.compile(r"^tps = ([0-9.]+)", re.MULTILINE)
_, AFTER_BACKFILL, VACUUMED, READS = PHASES = (
    "before expand (release 1)",
    "during the rollout, right after the backfill (view + sync trigger)",
    "during the rollout, both databases vacuumed (view + sync trigger)",
    "during the rollout, both vacuumed, the SELECT alone (view only)",
)


def find_pgbench(given: str | None) -> str | None:
    """``--pgbench``, else the newest Debian server's, else pgbench on PATH."""
    debian = sorted(glob.glob("/usr/lib/postgresql/*/bin/pgbench"))
    return given or (debian[-1] if debian else shutil.which("pgbench"))


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000, help="orders in each database")
    parser.add_argument("--seconds", type=int, default=3, help="length of one pgbench round")
    parser.add_argument("--pairs", type=int, default=8, help="rounds per database and phase")
    parser.add_argument("--clients", type=int, default=2, help="pgbench clients (-c, -j)")
    parser.add_argument("--pgbench", help="the pgbench binary (default: found on the machine)")
    json_option(parser)
    return parser.parse_args(argv)


def pgbench_round(
    pgbench: str, server, dbname: str, script: Path, args: argparse.Namespace, seconds: int
) -> float:
    """TPS of one round as the legacy colour; a failed transaction fails the bench."""
    params = conninfo_to_dict(server.conninfo(dbname))
    env = {**os.environ, "PGOPTIONS": LEGACY_OPTIONS}
    env.update({f"PG{key.upper()}": str(value) for key, value in params.items() if key != "dbname"})
    clients = str(args.clients)
    done = subprocess.run(
        [
            pgbench,
            "-n",
            "-M",
            "prepared",
            "-c",
            clients,
            "-j",
            clients,
            "-T",
            str(seconds),
            "-f",
            str(script),
        ]
        + [params["dbname"]],
        env=env,
        capture_output=True,
        text=True,
    )
    found = _TPS.search(done.stdout)
    expect(done.returncode == 0 and found is not None, f"pgbench failed: {done.stderr[-500:]}")
    return float(found[1])


def measure(server, pgbench: str, args: argparse.Namespace) -> dict[str, list[tuple[float, float]]]:
    """(rollout TPS, control TPS) of each pair of rounds, per phase."""
    pairs: dict[str, list[tuple[float, float]]] = {}
    with tempfile.TemporaryDirectory() as scratch, database(server, "template") as template:
        scripts = {name: Path(scratch) / f"{name}.sql" for name in ("legacy", "reads")}
        scripts["legacy"].write_text(SCRIPT.format(rows=args.rows))
        scripts["reads"].write_text(READ_ONLY.format(rows=args.rows))
        release1(server, template, args.rows)
        with database(server, "control", template) as control:
            with database(server, "rollout", template) as rollout:
                for phase in PHASES:
                    script = scripts["reads" if phase == READS else "legacy"]
                    if phase == VACUUMED:  # as autovacuum (off on the bench tables) would
                        for db in (control, rollout):
                            with connect(server, db) as conn:
                                conn.execute(f"VACUUM ANALYZE {TABLE}")
                    if phase == AFTER_BACKFILL:
                        expand()
                        connections["default"].close()
                        with connect(server, rollout, LEGACY_OPTIONS) as conn:
                            where = conn.execute(
                                "SELECT relnamespace::regnamespace::text FROM pg_catalog.pg_class "
                                "WHERE oid = %s::regclass",
                                [TABLE],
                            ).fetchone()[0]
                        expect(
                            where == LEGACY_SCHEMA, f"legacy pgbench would write {where}.{TABLE}"
                        )
                    for db in (control, rollout):  # warm-up: caches, plans, the new shape
                        pgbench_round(pgbench, server, db, script, args, 1)
                    for turn in range(args.pairs):
                        order = (rollout, control) if turn % 2 else (control, rollout)
                        tps = {
                            db: pgbench_round(pgbench, server, db, script, args, args.seconds)
                            for db in order
                        }
                        pairs.setdefault(phase, []).append((tps[rollout], tps[control]))
                    print(f"  {phase}: done", flush=True)
                shape = read_shape()
                connections["default"].close()
                with connect(server, rollout) as conn:
                    wrong = count_up_mismatches(conn, shape, alter_operation().up)
                expect(wrong == 0, f"after pgbench {wrong} orders lack {COLUMN} = up(cents)")
    return pairs


def report(results: Results, args: argparse.Namespace, pairs) -> None:
    rows, ratios = [], []
    for phase in PHASES:
        each = [rollout / control for rollout, control in pairs[phase]]
        ratios.append(median(each))
        rows.append(
            [
                phase,
                f"{median([rollout for rollout, _ in pairs[phase]]):,.0f}",
                f"{median([control for _, control in pairs[phase]]):,.0f}",
                f"{ratios[-1]:.3f}",
                " ".join(f"{value:.2f}" for value in each),
            ]
        )
    results.tables.append(
        Table(
            f"pgbench -M prepared as the legacy colour (PGOPTIONS search_path), "
            f"{args.clients} clients, "
            f"{args.pairs} pairs of alternating {args.seconds} s rounds per phase, "
            f"{args.rows:,} orders; ratio = median of the per-pair ratios",
            ["phase", "rollout db TPS", "control db TPS", "rollout / control", "per pair"],
            rows,
            [
                "transaction: SELECT an order by key, UPDATE its amount (legacy: integer cents)",
                "the SELECT alone: the same read, no UPDATE (what the view costs the read)",
                *(
                    f"{phase.split(', ', 1)[1]} ÷ before: {ratio / ratios[0]:.3f}"
                    for phase, ratio in zip(PHASES[1:], ratios[1:], strict=True)
                ),
                "÷ before: what the rollout itself costs, net of any difference between the "
                "two databases before it",
            ],
        )
    )
    results.charts.append(
        Chart(
            "pgbench",
            "Legacy colour TPS, rollout database over control",
            "TPS ratio (rollout / control)",
            list(PHASES),
            {"rollout / control": ratios},
            reference=1.0,
            reference_label="as fast as the control",
        )
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    pgbench = find_pgbench(args.pgbench)
    if not pgbench:
        print("bench skipped: no pgbench on this machine (pass --pgbench PATH)", file=sys.stderr)
        return SKIPPED
    print(f"pgbench of the legacy colour with {pgbench}:", flush=True)
    return run_bench(
        APP,
        "pgbench",
        args.json,
        lambda server: measure(server, pgbench, args),
        lambda results, pairs: report(results, args, pairs),
    )


if __name__ == "__main__":
    sys.exit(main())
