"""Measure how long the demo's expand holds its table locked, and what runs meanwhile.

Django runs a migration in one transaction, so the first statement that takes ACCESS
EXCLUSIVE on the table (the rollout's ``LOCK TABLE``, or an ``ALTER TABLE``) keeps it
until the commit, and every legacy request for the table waits that long. This script
applies release 2's ``bookshop`` migration (five compat operations on one table, the
demo's rollout) to a release-1 table of ``--rows`` books, times every statement on the
client (``connection.execute_wrapper``) and prints, per run: the time from the first
lock-taking statement to the commit, how many statements ran in that window, how much
of it was spent in SQL, and the statements that took the most of it. Each run is
checked (both shapes are there after the expand, rollback restores release 1) and then
rolled back, so every run starts from the same table. Timings are printed, never
asserted, because machines are noisy.

Run from the repository root: ``python bench/lock_window.py [--rows 10000] [--repeat 5]
[--top 12]`` (``make bench-lock ARGS=...`` runs the same).
"""

from __future__ import annotations

import argparse
import io
import re
import statistics
import sys
from collections import defaultdict
from collections.abc import Sequence
from contextlib import redirect_stdout
from pathlib import Path

from django.core.management import call_command
from django.db import connections

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # this checkout, not an install
from bench.common import (  # noqa: E402
    LEGACY_COLOUR,
    BenchFailed,
    columns,
    configure_django,
    database,
    expect,
    positive,
    query,
)
from compat_views.testing.lockwindow import LockWindow  # noqa: E402

PACKAGE, APP = "demo_project.release2", "bookshop"
TABLE = "bookshop_book"
BEFORE, ROLLOUT = "0001", "0002"
BASE_SCHEMA = "public"  # each bench database is created fresh here
CATALOG = re.compile(r"\b(pg_catalog|information_schema)\.", re.IGNORECASE)

_FILL = f"""
INSERT INTO {TABLE} (title, price_cents, isbn, format)
SELECT 'book number ' || g, g %% 5000, 'isbn-' || g, 'paperback'
FROM pg_catalog.generate_series(1, %s) AS g
"""


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=positive, default=10_000, help="books in the table")
    parser.add_argument("--repeat", type=positive, default=5, help="timed expands")
    parser.add_argument("--top", type=positive, default=12, help="statements listed")
    return parser.parse_args(argv)


def prepare(rows: int) -> None:
    """Release 1 with ``rows`` books, vacuumed and analysed like a settled table."""
    call_command("migrate", "compat_views", verbosity=0)
    call_command("migrate", APP, BEFORE, verbosity=0)
    query(_FILL, [rows])
    query(f"VACUUM ANALYZE {TABLE}")
    (count,) = query(f"SELECT count(*) FROM {TABLE}")[0]
    expect(count == rows, f"filled {count} rows into {TABLE}, expected {rows}")


def expand() -> LockWindow:
    window = LockWindow(TABLE)
    connections["default"].ensure_connection()
    with connections["default"].execute_wrapper(window), redirect_stdout(io.StringIO()):
        call_command("migrate", APP, ROLLOUT, verbosity=0)
    expect(window.closed, f"the expand did not lock {TABLE} and commit")
    return window


def check_expanded(legacy_schema: str) -> None:
    base, legacy = columns(BASE_SCHEMA, TABLE), columns(legacy_schema, TABLE)
    expect({"name", "price", "slug"} <= base, f"{TABLE} has columns {sorted(base)} after expand")
    expect(
        {"title", "price_cents", "format"} <= legacy and "slug" not in legacy,
        f"the legacy view {legacy_schema}.{TABLE} has columns {sorted(legacy)}",
    )


def check_restored(legacy_schema: str) -> None:
    base = columns(BASE_SCHEMA, TABLE)
    expect(
        {"title", "price_cents", "format"} <= base and not {"name", "slug"} & base,
        f"after rollback {TABLE} has columns {sorted(base)}",
    )
    expect(not columns(legacy_schema, TABLE), "after rollback the legacy view is still there")


def shape(sql: str) -> str:
    """A statement's text with whitespace folded, cut short: what groups repeats together."""
    text = re.sub(r'"s\d+_x\d+"', '"s…"', " ".join(sql.split()))  # Django's savepoint names
    return text if len(text) <= 90 else text[:87] + "..."


def report(windows: list[LockWindow], top: int) -> None:
    runs = len(windows)
    seconds = [window.seconds for window in windows]
    inside = [window.inside() for window in windows]
    counts = [len(statements) for statements in inside]
    catalog = [sum(1 for _, sql in statements if CATALOG.search(sql)) for statements in inside]
    in_sql = [sum(s for s, _ in statements) for statements in inside]
    print()
    print(f"lock window, first lock-taking statement to commit ({runs} runs):")
    print(f"  median {statistics.median(seconds) * 1000:.1f} ms, runs (ms): ", end="")
    print(" ".join(f"{value * 1000:.1f}" for value in seconds))
    print(f"  statements in the window: median {statistics.median(counts):.0f}", end="")
    print(f" (reading pg_catalog / information_schema: {statistics.median(catalog):.0f})")
    share = statistics.median(s / w for s, w in zip(in_sql, seconds, strict=True))
    print(f"  share of the window spent in SQL: {share:.0%}")
    totals: dict[str, list[float]] = defaultdict(lambda: [0, 0.0])
    for statements in inside:
        for seconds_taken, sql in statements:
            entry = totals[shape(sql)]
            entry[0] += 1
            entry[1] += seconds_taken
    print(f"  top {top} statement shapes by time, per run:")
    print(f"  {'calls':>6} {'ms':>8}  statement")
    for text, (calls, total) in sorted(totals.items(), key=lambda item: -item[1][1])[:top]:
        print(f"  {calls / runs:>6.1f} {total / runs * 1000:>8.2f}  {text}")


def main(argv: Sequence[str] | None = None) -> int:
    from compat_views import naming
    from compat_views.testing.postgres import throwaway_server

    args = parse_args(argv)
    legacy_schema = naming.legacy_schema(LEGACY_COLOUR)
    with throwaway_server() as server:
        configure_django(server, APP, PACKAGE)
        version = server.version_num
        print(
            f"Lock window of the demo's expand on PostgreSQL {version // 10000}."
            f"{version % 10000} ({server.source} server), {args.rows} rows, "
            f"{args.repeat} runs after a warm-up",
            flush=True,
        )
        windows = []
        try:
            with database(server, "lock"):
                prepare(args.rows)
                for run in range(args.repeat + 1):
                    window = expand()
                    check_expanded(legacy_schema)
                    # --force: this very process is a connected session of the new colour.
                    call_command("compat", "rollback", "--force", stdout=io.StringIO())
                    check_restored(legacy_schema)
                    if run:  # run 0 warms up imports and the new backend's catalog caches
                        windows.append(window)
        except BenchFailed as exc:
            print(f"bench failed: {exc}", file=sys.stderr)
            return 1
    report(windows, args.top)
    return 0


if __name__ == "__main__":
    sys.exit(main())
