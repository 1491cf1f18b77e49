"""The benches stay runnable: each runs at a toy size against the suite's server.

A bench asserts the state it measures (``down`` ran, the backfill left ``new =
up(legacy)`` and rewrote no legacy value, a rename moved no data) and exits 1 when a
check fails, so this catches a bench or a library change that breaks them. Timings at
this size mean nothing and are not looked at; the report's shape is: every section,
table, target and chart BENCHMARKS.md links.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from compat_views.testing.postgres import DSN_ENV

REPO = Path(__file__).resolve().parent.parent

TOY_SIZES = {
    "lock_window.py": ["--rows", "200", "--repeat", "1"],
    "rename_cost.py": ["--rows", "100", "2000", "--repeat", "1"],
    "sync_cost.py": [
        *("--rows", "3000", "--bulk-rows", "500", "--single", "20", "--repeat", "1"),
        *("--writer-rate", "50"),
    ],
}

PRINTS = {
    "lock_window.py": "lock window",
    "rename_cost.py": "ratio",
    "sync_cost.py": "target(s) missed",
}


SCALE_TOY = ["--rows", "3000", "--rss-rows", "1000", "--writer-rate", "50"]


def run_script(pg_server, script: str, args: list[str]) -> subprocess.CompletedProcess:
    """Run a bench as ``make`` would, against the suite's server."""
    return subprocess.run(
        [sys.executable, str(REPO / "bench" / script), *args],
        cwd=REPO,
        env={**os.environ, DSN_ENV: pg_server.conninfo()},
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.parametrize("script", sorted(TOY_SIZES))
def test_bench_runs_and_its_checks_pass(pg_server, script):
    result = run_script(pg_server, script, TOY_SIZES[script])
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "bench failed" not in output
    assert PRINTS[script] in result.stdout, output


def test_scale_bench_prints_every_figure(pg_server):
    """Rows/s, WAL and peak RSS of each fill, the writer's latency, a verdict per target."""
    result = run_script(pg_server, "scale.py", SCALE_TOY)
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    for header in ("rows/s", "of plain", "WAL MiB", "WAL × plain", "peak RSS MiB", "p99 ms"):
        assert header in out, out
    for label in ("one plain UPDATE", "legacy writer (3,000 rows)", "alone (1,000 rows)"):
        assert re.search(rf"{re.escape(label)}\)?\s+\d+\.\d\s+[\d,]+\s", out), out
    assert re.search(r"WAL written by the backfill ÷ by the plain UPDATE: \d+\.\d\d×", out)
    verdicts = re.findall(r"^  .+ \(target [≤≥] .+\) (?:PASS|MISS)$", out, re.MULTILINE)
    assert len(verdicts) == 3, out
    assert re.search(r"^  \(\d+ cores, .+; PostgreSQL \d+", out, re.MULTILINE), out


def test_report_writes_benchmarks_md_and_every_chart_it_links(pg_server, tmp_path):
    pytest.importorskip("matplotlib", reason="the charts need the bench extra (matplotlib)")
    env = {**os.environ, DSN_ENV: pg_server.conninfo()}
    result = subprocess.run(
        [sys.executable, str(REPO / "bench" / "report.py"), "--quick", "--out", str(tmp_path)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    report = (tmp_path / "BENCHMARKS.md").read_text()
    charts = re.findall(r"!\[[^]]*\]\(([^)]+)\)", report)
    expected = {"trigger_bulk", "trigger_single", "backfill", "writer_latency", "reads", "rename"}
    if shutil.which("pgbench") or list(Path("/usr/lib/postgresql").glob("*/bin/pgbench")):
        expected.add("pgbench")
    assert {Path(chart).stem for chart in charts} >= expected
    for chart in charts:
        assert (tmp_path / chart).read_text().lstrip().startswith("<?xml"), chart
    for heading in ("## Targets", "## Sync trigger", "## Legacy reads", "## Rename cost"):
        assert heading in report
    verdicts = re.findall(r"^\| .+ \| (PASS|MISS) \|$", report, re.MULTILINE)
    assert len(verdicts) >= 8  # two bulk UPDATEs, backfill, two writers, three reads
    machine = re.findall(r"^Machine: \d+ cores, .+; PostgreSQL \d+", report, re.MULTILINE)
    tables = re.findall(r"^\| --- \|", report, re.MULTILINE)
    assert len(machine) == len(tables) - 1  # every table but the targets names the machine
