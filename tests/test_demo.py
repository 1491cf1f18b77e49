"""The demo end to end: ``python -m demo_project --quick`` in a subprocess, judged by its JSON.

Each run starts its own throwaway PostgreSQL, gunicorn servers and traffic, exactly as
``make demo`` does, so these tests need no fixture of the suite. The last one breaks the
sync trigger on purpose: a checker that passed that run would prove nothing.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
RUN_TIMEOUT_S = 240
SECTIONS = (
    "What was rolled out",
    "Timeline",
    "Latency spikes",
    "The schema, phase by phase",
    "Cross-colour evidence",
    "Checks",
)
FINAL_COLUMNS = {
    "complete": ["id", "isbn", "name", "price", "slug"],
    "rollback": ["format", "id", "isbn", "price_cents", "title"],
}


def run_demo(tmp_path: Path, *flags: str) -> tuple[subprocess.CompletedProcess[str], dict]:
    result_path, html_path = tmp_path / "result.json", tmp_path / "report.html"
    done = subprocess.run(
        [sys.executable, "-m", "demo_project", "--quick", "--json", str(result_path)]
        + ["--html", str(html_path), *flags],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
        check=False,
    )
    output = f"--- stdout (end)\n{done.stdout[-6000:]}\n--- stderr (end)\n{done.stderr[-3000:]}"
    assert result_path.exists(), f"no result written (exit {done.returncode})\n{output}"
    page = html_path.read_text()
    assert "<svg" in page, "the HTML report has no chart"
    for heading in SECTIONS:
        assert f"<h2>{heading}</h2>" in page, heading
    return done, json.loads(result_path.read_text())


def both_colour_phases(result: dict[str, Any]) -> list[dict[str, Any]]:
    """The phases in which the router sent traffic to both colours."""
    return [
        phase
        for phase in result["phases"]
        if all(phase.get("weights", {}).get(colour) for colour in ("blue", "green"))
    ]


@pytest.mark.parametrize("path", ["complete", "rollback"])
def test_rollout_under_traffic_loses_nothing(tmp_path: Path, path: str) -> None:
    done, result = run_demo(tmp_path, *(["--rollback"] if path == "rollback" else []))

    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-3000:]
    assert result["path"] == path
    assert result["errors"] == 0, result["error_samples"]
    assert result["mismatches"] == []
    assert result["rows_written"] > 0
    assert result["rows_verified"] == result["rows_written"]
    assert sorted(result["final_columns"]) == FINAL_COLUMNS[path]
    # Each colour read back books the other colour had written last.
    assert result["cross_reads"]["blue"] > 0 and result["cross_reads"]["green"] > 0

    for phase in result["phases"]:
        assert f"==> phase: {phase['name']}: " in done.stdout
    both = both_colour_phases(result)
    assert len(both) >= 2
    for phase in both:
        for colour in ("blue", "green"):
            numbers = phase["colours"][colour]
            assert numbers["requests"] > 0, (phase["name"], colour)
            assert numbers["errors"] == 0, (phase["name"], colour)
            assert numbers["p99_ms"] >= numbers["p50_ms"] > 0
    assert result["timeline"], "no traffic in the timeline"

    # What the report shows of the schema: compat status at each step of the rollout.
    assert [snapshot["label"] for snapshot in result["snapshots"]] == [
        "before the rollout",
        "after the expand and its backfill",
        f"before `compat {path}`",
        f"after `compat {path}`",
    ]
    before, expand, *_, after = result["snapshots"]
    assert before["status"]["rollout"] is None and after["status"]["rollout"] is None
    (table,) = expand["status"]["rollout"]["tables"]
    assert table["mapping"]["title"] == "name"
    assert expand["legacy_view"] == ["id", "title", "price_cents", "isbn", "format"]
    assert sorted(after["columns"]) == FINAL_COLUMNS[path]
    assert all(check["ok"] and check["phase"] for check in result["checks"])
    assert result["locks"]["samples"] > 0
    assert result["machine"]["postgres"] and result["machine"]["cores"] > 0


def test_a_broken_sync_trigger_fails_the_demo(tmp_path: Path) -> None:
    done, result = run_demo(tmp_path, "--break-trigger")

    assert done.returncode != 0
    assert result["mismatches"]
    assert result["rows_verified"] < result["rows_written"]
