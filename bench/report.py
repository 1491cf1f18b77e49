"""Run every bench on one throwaway server and write BENCHMARKS.md with its charts.

Each bench runs as its own process (each configures Django for its own app) against
the same server, writes its results as JSON (``--json``), and prints its progress
here. This script only renders: the numbers, the tables and the verdicts are the
benches' own. Charts are SVG files under ``bench/charts/`` next to the Markdown,
drawn with matplotlib (the ``bench`` extra: ``pip install -e .[bench]``), written
without a date so that a rerun changes them only where the numbers changed.

``--quick`` runs every bench at toy sizes (seconds, for the tests: its numbers mean
nothing); ``--out DIR`` writes DIR/BENCHMARKS.md and DIR/bench/charts/ instead of
this checkout's; ``--rename-rows`` the table sizes of the rename bench (default: 1,000
to 10,000,000). Run from the repository root: ``python bench/report.py [--quick]
[--out DIR] [--rename-rows 1000 … 10000000]`` (``make bench-report`` runs it).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # this checkout, not an install
from bench.common import REPO_ROOT, SKIPPED, Chart, Results, Table  # noqa: E402

CHARTS = Path("bench") / "charts"
RENAME_ROWS = ["1000", "10000", "100000", "1000000", "10000000"]
SIZES = {  # script -> (full arguments, --quick arguments)
    "sync_cost.py": (
        ["--rows", "200000", "--bulk-rows", "50000", "--single", "2000", "--repeat", "9"],
        ["--rows", "3000", "--bulk-rows", "500", "--single", "20", "--repeat", "1"],
    ),
    "read_cost.py": (
        ["--rows", "100000", "--statements", "200", "--repeat", "51"],
        ["--rows", "2000", "--statements", "10", "--repeat", "1"],
    ),
    "rename_cost.py": (["--repeat", "3"], ["--rows", "100", "2000", "--repeat", "1"]),
    "pgbench_cost.py": (
        ["--rows", "100000", "--seconds", "3", "--pairs", "8"],
        ["--rows", "2000", "--seconds", "1", "--pairs", "1"],
    ),
}
SECTIONS = {  # bench name -> heading and why it is measured
    "sync": (
        "Sync trigger and backfill (`AlterCompatColumn`, `bench/sync_cost.py`)",
        "What the sync trigger adds to a write of the base table, against the same table "
        "with no trigger and with a reference trigger written in the style pgroll "
        "uses (no WHEN clause, the direction from a search_path string, every column "
        "DECLAREd), and the batched backfill against one plain `UPDATE … SET new = up(old)`. "
        "Two diagnostic triggers (`RETURN NEW` only; setting one column to a constant) "
        "show PostgreSQL's own floor for any BEFORE row trigger: it locks each row "
        "before the trigger fires, enters plpgsql, and forms a new tuple when NEW changed.",
    ),
    "read": (
        "Legacy reads through a view (`bench/read_cost.py`)",
        "What the legacy colour pays for reading through `compat_blue.syncapp_order` "
        "instead of the table. The client and both sessions' backends run on one CPU: a "
        "backend answering a client on the other CPU spends about four times the CPU on a "
        "lookup by key, and the scheduler keeps a session on its CPU for the whole bench, "
        "which once made one session (either colour) three times slower than the other. "
        "The plan counts show both sessions plan alike.",
    ),
    "rename": (
        "Rename cost by table size (`RenameCompatColumn`, `bench/rename_cost.py`)",
        "A rename moves no data (`ALTER TABLE … RENAME COLUMN` and a regenerated view), "
        "so its time must not grow with the table.",
    ),
    "pgbench": (
        "pgbench through a rollout (`bench/pgbench_cost.py`)",
        "The legacy colour's throughput, as a non-Django client joins it, against an "
        "untouched control database in the same cluster. The backfill is over before the "
        "rollout's rounds begin (`migrate` runs it), so none of the cost is a concurrent "
        "backfill. The phases take the rest apart: right after the backfill every row "
        "has a dead version and the indexes an entry for it (autovacuum is off on the "
        "bench tables); vacuumed, what is left is the view and the sync trigger's `up` on "
        "each UPDATE; the SELECT alone is the view by itself. TPS is wall time of two "
        "pgbench clients on a shared two-core machine, far noisier than the CPU-timed "
        "benches above: read the per-pair ratios.",
    ),
}


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="toy sizes, for the tests")
    parser.add_argument("--out", type=Path, default=REPO_ROOT, help="where to write")
    parser.add_argument(
        "--rename-rows", nargs="+", default=RENAME_ROWS, help="table sizes of the rename bench"
    )
    return parser.parse_args(argv)


def run_script(script: str, arguments: list[str], dsn: str, scratch: Path) -> Results | str:
    """The bench's results, or why there are none (its last lines of output)."""
    from compat_views.testing.postgres import DSN_ENV

    out = scratch / f"{script}.json"
    command = [sys.executable, str(REPO_ROOT / "bench" / script), *arguments, "--json", str(out)]
    print(f"$ {' '.join(command[1:])}", flush=True)
    done = subprocess.run(command, env={**os.environ, DSN_ENV: dsn}, cwd=REPO_ROOT)
    if done.returncode == SKIPPED:
        return f"skipped by `{script}`, which names what is missing in its output"
    if done.returncode or not out.exists():
        return f"`{script}` exited with status {done.returncode}: see its output"
    return Results.load(out)


def draw(chart: Chart, path: Path) -> None:
    """One SVG; bars grouped by category, or lines over sizes; the reference dashed."""
    import matplotlib

    matplotlib.use("Agg")
    matplotlib.rcParams["svg.hashsalt"] = "compat-views"
    from matplotlib import pyplot

    figure, axes = pyplot.subplots(figsize=(8, 4))
    names = list(chart.series)
    if chart.kind == "line":
        for name in names:
            axes.plot(chart.labels, chart.series[name], marker="o", label=name)
        axes.set_xlabel("rows")
    else:
        width = 0.8 / len(names)
        for index, name in enumerate(names):
            positions = [
                i + (index - (len(names) - 1) / 2) * width for i in range(len(chart.labels))
            ]
            axes.bar(positions, chart.series[name], width, label=name)
        axes.set_xticks(range(len(chart.labels)), chart.labels, fontsize=8)
    if chart.reference is not None:
        axes.axhline(
            chart.reference, color="black", linestyle="--", linewidth=1, label=chart.reference_label
        )
    axes.set_title(chart.title)
    axes.set_ylabel(chart.ylabel)
    axes.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, format="svg", metadata={"Date": None})
    pyplot.close(figure)


def markdown_table(table: Table, machine: str) -> list[str]:
    def row(cells: Sequence[str]) -> str:
        return "| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |"

    return [
        f"**{table.title}**",
        "",
        f"Machine: {machine}.",
        "",
        row(table.headers),
        row(["---"] * len(table.headers)),
        *(row(cells) for cells in table.rows),
        "",
        *(f"{note}  " for note in table.notes),
        "",
    ]


def render(results: dict[str, Results | str], args: argparse.Namespace, minutes: float) -> str:
    """BENCHMARKS.md: how it was made, every target with its verdict, then each bench."""
    measured = [each for each in results.values() if isinstance(each, Results)]
    machine = measured[0].machine if measured else "unknown"
    lines = [
        "# Benchmarks",
        "",
        "Written by `make bench-report` (`bench/report.py`"
        + (" --quick: toy sizes, the numbers mean nothing" if args.quick else "")
        + f") in {minutes:.1f} minutes on {machine}. Do not edit by hand: rerun it.",
        "",
        "Every ratio compares runs of the same run, on the same server, taking turns in "
        "short rounds (rotating who goes first), and is the median of the per-round "
        "ratios: the machine is shared and its speed drifts. Statements timed on the "
        "server are timed on their backend's CPU (`/proc/<pid>/schedstat`), which time "
        "spent waiting for a core does not inflate. Correctness is asserted by each "
        "bench; timings never are.",
        "",
        "## Targets",
        "",
        "| figure | measured | target | verdict |",
        "| --- | --- | --- | --- |",
    ]
    for each in measured:
        for target in each.targets:
            sign = "≥" if target.at_least else "≤"
            lines.append(
                f"| {target.label} | {target.shown(target.value)} | {sign} "
                f"{target.shown(target.target)} | {'PASS' if target.ok else 'MISS'} |"
            )
    lines.append("")
    for name, (heading, why) in SECTIONS.items():
        lines += [f"## {heading}", "", why, ""]
        found = results.get(name)
        if not isinstance(found, Results):
            lines += [f"Not measured: {found or 'the bench did not run'}.", ""]
            continue
        for table in found.tables:
            lines += markdown_table(table, found.machine)
        for chart in found.charts:
            lines += [f"![{chart.title}]({(CHARTS / f'{chart.name}.svg').as_posix()})", ""]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    from compat_views.testing.postgres import throwaway_server

    args = parse_args(argv)
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        print("bench report: matplotlib is missing; run `pip install -e .[bench]`", file=sys.stderr)
        return 1
    started = time.perf_counter()
    results: dict[str, Results | str] = {}
    with throwaway_server() as server, tempfile.TemporaryDirectory() as scratch:
        for script, (full, quick) in SIZES.items():
            arguments = quick if args.quick else full
            if script == "rename_cost.py" and not args.quick:
                arguments = [*arguments, "--rows", *args.rename_rows]
            found = run_script(script, arguments, server.conninfo(), Path(scratch))
            name = found.bench if isinstance(found, Results) else script.removesuffix("_cost.py")
            results[name] = found
    charts = args.out / CHARTS
    charts.mkdir(parents=True, exist_ok=True)
    for each in results.values():
        if isinstance(each, Results):
            for chart in each.charts:
                draw(chart, charts / f"{chart.name}.svg")
    minutes = (time.perf_counter() - started) / 60
    (args.out / "BENCHMARKS.md").write_text(render(results, args, minutes))
    print(f"wrote {args.out / 'BENCHMARKS.md'} and {charts}/")
    failed = [
        each for each in results.values() if isinstance(each, str) and not each.startswith("skip")
    ]
    for reason in failed:
        print(f"bench report: {reason}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
