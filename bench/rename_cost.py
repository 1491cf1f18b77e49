"""Show that RenameCompatColumn costs the same on a 1,000-row and a 1,000,000-row table.

The rename is metadata only (``ALTER TABLE … RENAME COLUMN`` plus a regenerated legacy
view), so its time must not grow with the table. This script times ``migrate`` of the
rename on tables of each size in ``--rows``, each in its own fresh database on a
throwaway server, and prints the medians (after one untimed warm-up each) and their
ratio to the smallest.
Only correctness is asserted (the rename really happened, the legacy view shows every
row, rollback restores the name); the timings are printed, never asserted, because
machines are noisy.

Run from the repository root: ``python bench/rename_cost.py [--rows 1000 1000000]
[--repeat 3] [--json PATH]`` (``make bench-rename ARGS=...`` runs the same).
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from django.core.management import call_command
from django.db import connections
from psycopg import sql

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # this checkout, not an install
from bench.common import (  # noqa: E402
    LEGACY_COLOUR,
    Chart,
    Results,
    Table,
    columns,
    database,
    expect,
    json_option,
    positive,
    query,
    run_bench,
)

if TYPE_CHECKING:
    from compat_views.testing.postgres import Server

APP = "benchapp"
TABLE = "benchapp_item"
OLD_COLUMN = "title"
NEW_COLUMN = "name"
BEFORE, RENAME = "0001", "0002"
# Each bench database is created fresh here, so its tables live in the default schema.
BASE_SCHEMA = "public"

_FILL = f"""
INSERT INTO {TABLE} (sku, {OLD_COLUMN}, price_cents, created_at)
SELECT g, 'item number ' || g, g %% 10000, now() - g * interval '1 second'
FROM pg_catalog.generate_series(1, %s) AS g
"""
_VIEW_EXISTS = """
SELECT count(*) FROM information_schema.views WHERE table_schema = %s AND table_name = %s
"""


@dataclass(frozen=True)
class Result:
    rows: int
    seconds: list[float]

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--rows", type=positive, nargs="+", default=[1_000, 1_000_000], help="table sizes"
    )
    parser.add_argument("--repeat", type=positive, default=3, help="timed renames per size")
    json_option(parser)
    return parser.parse_args(argv)


def prepare(rows: int) -> float:
    """Release 1 with ``rows`` rows, vacuumed and analysed like a settled production table."""
    call_command("migrate", "compat_views", verbosity=0)
    call_command("migrate", APP, BEFORE, verbosity=0)
    started = time.perf_counter()
    query(_FILL, [rows])
    # Django connections autocommit outside atomic blocks, which VACUUM requires.
    query(f"VACUUM ANALYZE {TABLE}")
    (count,) = query(f"SELECT count(*) FROM {TABLE}")[0]
    expect(count == rows, f"filled {count} rows into {TABLE}, expected {rows}")
    seconds = time.perf_counter() - started
    print(f"  filled {rows} rows in {seconds:.1f} s", flush=True)
    return seconds


def check_renamed(rows: int, legacy_schema: str) -> None:
    """The rename happened for the new colour, and the legacy colour still sees everything."""
    base = columns(BASE_SCHEMA, TABLE)
    expect(
        NEW_COLUMN in base and OLD_COLUMN not in base,
        f"after the rename {BASE_SCHEMA}.{TABLE} has columns {sorted(base)}: "
        f"expected {NEW_COLUMN!r} and no {OLD_COLUMN!r}",
    )
    legacy = columns(legacy_schema, TABLE)
    expect(
        OLD_COLUMN in legacy and NEW_COLUMN not in legacy,
        f"after the rename the legacy view {legacy_schema}.{TABLE} has columns "
        f"{sorted(legacy)}: expected {OLD_COLUMN!r} and no {NEW_COLUMN!r}",
    )
    view = sql.Identifier(legacy_schema, TABLE).as_string()
    (seen,) = query(f"SELECT count({sql.Identifier(OLD_COLUMN).as_string()}) FROM {view}")[0]
    expect(seen == rows, f"the legacy view {view} shows {seen} {OLD_COLUMN} values, not {rows}")


def check_restored(legacy_schema: str) -> None:
    """Rollback put the old name back and removed the view, so the next run starts clean."""
    base = columns(BASE_SCHEMA, TABLE)
    expect(
        OLD_COLUMN in base and NEW_COLUMN not in base,
        f"after rollback {BASE_SCHEMA}.{TABLE} has columns {sorted(base)}: "
        f"expected {OLD_COLUMN!r} back and no {NEW_COLUMN!r}",
    )
    (views,) = query(_VIEW_EXISTS, [legacy_schema, TABLE])[0]
    expect(views == 0, f"after rollback the legacy view {legacy_schema}.{TABLE} still exists")


def timed_rename() -> float:
    """Seconds for ``migrate`` of the rename: the step a deployment actually waits for."""
    connections["default"].ensure_connection()  # keep connecting out of the measurement
    started = time.perf_counter()
    call_command("migrate", APP, RENAME, verbosity=0)
    return time.perf_counter() - started


def measure(server: Server, rows: int, repeat: int, fills: dict[int, float]) -> Result:
    from compat_views import naming

    legacy_schema = naming.legacy_schema(LEGACY_COLOUR)
    print(f"{rows} rows:", flush=True)
    seconds = []
    with database(server, str(rows)):
        fills[rows] = prepare(rows)
        # Run 0 is a checked but unrecorded warm-up: one-off costs (first imports, the
        # cold catalog caches of a new backend) would otherwise land on the first size.
        for run in range(repeat + 1):
            elapsed = timed_rename()
            check_renamed(rows, legacy_schema)
            # --force: this very process is a connected session of the new colour.
            call_command("compat", "rollback", "--force", stdout=io.StringIO())
            check_restored(legacy_schema)
            print(f"  {f'run {run}' if run else 'warm-up'}: {elapsed:.4f} s", flush=True)
            if run:
                seconds.append(elapsed)
    return Result(rows, seconds)


def report(results: Results, sizes: list[Result], fill_seconds: dict[int, float]) -> None:
    smallest = sizes[0]
    results.tables.append(
        Table(
            f"RenameCompatColumn: `migrate` of the rename, median of {len(smallest.seconds)} "
            "runs per size after a warm-up (rolled back between runs)",
            ["rows", "median s", "× smallest", "runs (s)", "filling the table took s"],
            [
                [
                    f"{result.rows:,}",
                    f"{result.median:.4f}",
                    f"{result.median / smallest.median:.2f}",
                    " ".join(f"{value:.4f}" for value in result.seconds),
                    f"{fill_seconds[result.rows]:.1f}",
                ]
                for result in sizes
            ],
            ["target: about 1× at every size, i.e. a cost independent of the table's size"],
        )
    )
    results.charts.append(
        Chart(
            "rename",
            "RenameCompatColumn: migrate time by table size",
            "seconds",
            [f"{result.rows:,}" for result in sizes],
            {"migrate of the rename": [result.median for result in sizes]},
            kind="line",
        )
    )
    ratio = sizes[-1].median / smallest.median
    print(f"ratio {ratio:.2f} (target: about 1, i.e. cost independent of table size)")


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    print(f"RenameCompatColumn cost, {args.repeat} runs per size", flush=True)
    fills: dict[int, float] = {}
    return run_bench(
        APP,
        "rename",
        args.json,
        lambda server: [measure(server, rows, args.repeat, fills) for rows in sorted(args.rows)],
        lambda results, sizes: report(results, sizes, fills),
    )


if __name__ == "__main__":
    sys.exit(main())
