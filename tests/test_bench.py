"""The benches stay runnable: each runs at a toy size against the suite's server.

A bench asserts the state it measures (``down`` ran, the backfill left ``new =
up(legacy)`` and rewrote no legacy value, a rename moved no data) and exits 1 when a
check fails, so this catches a bench or a library change that breaks them. Timings at
this size mean nothing and are not looked at.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from compat_views.testing.postgres import DSN_ENV

REPO = Path(__file__).resolve().parent.parent

TOY_SIZES = {
    "rename_cost.py": ["--rows", "100", "2000", "--repeat", "1"],
    "sync_cost.py": [
        *("--rows", "3000", "--bulk-rows", "500", "--single", "20", "--repeat", "1"),
        *("--writer-rate", "50"),
    ],
}

PRINTS = {"rename_cost.py": "ratio", "sync_cost.py": "target(s) missed"}


@pytest.mark.parametrize("script", sorted(TOY_SIZES))
def test_bench_runs_and_its_checks_pass(pg_server, script):
    env = {**os.environ, DSN_ENV: pg_server.conninfo()}
    result = subprocess.run(
        [sys.executable, str(REPO / "bench" / script), *TOY_SIZES[script]],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "bench failed" not in output
    assert PRINTS[script] in result.stdout, output
