"""``python -m demo_project --rehearse``: release 1's suite rehearsed against release 2.

Each run is the demo's own process, as ``make demo ARGS=--rehearse`` starts it, on the
suite's server (``DATABASE_URL``: the demo then makes its database there instead of
starting a PostgreSQL of its own). Release 2 as shipped is safe; a copy of it with one
compat operation replaced by a plain ``RenameField`` must fail the rehearsal, naming
release 1's tests and the cause; an interrupted rehearsal must leave nothing behind.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import uuid
from pathlib import Path

import psycopg
import pytest

from demo_project.rehearsal import RELEASE2
from tests.test_demo_suites import SUITE_SIZES

REPO_ROOT = Path(__file__).resolve().parent.parent
RUN_TIMEOUT_S = 240
PROC = Path("/proc")
# A row of the rehearsal's summary table, as the demo prints it (indented).
ROW = re.compile(
    r"^\s+(?P<database>plain|expanded|rolled back)\s+(?P<suite>release [12])"
    r"\s+(?P<passed>\d+)\s+(?P<failed>\d+)\s+(?P<skipped>\d+)\s+(?P<caused>\d+|-)$",
    re.MULTILINE,
)
SAFE_OPERATION = 'RenameCompatColumn("book", "title", "name")'
UNSAFE_OPERATION = 'migrations.RenameField("book", "title", "name")'


def demo_command(*flags: str) -> list[str]:
    return [sys.executable, "-m", "demo_project", "--rehearse", *flags]


def demo_environment(pg_server, marker: str = "") -> dict[str, str]:
    """The caller's environment, the demo pointed at the suite's server; ``marker`` is
    inherited by every process the demo starts, so a test can look for what is left."""
    return {**os.environ, "DATABASE_URL": pg_server.conninfo(), "DEMO_REHEARSE_TEST": marker}


def run_demo(pg_server, *flags: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        demo_command(*flags),
        cwd=REPO_ROOT,
        env=demo_environment(pg_server),
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
        check=False,
    )


def printed(done: subprocess.CompletedProcess[str]) -> str:
    return f"exit {done.returncode}\n--- stdout\n{done.stdout[-8000:]}\n--- stderr\n{done.stderr}"


def table(stdout: str) -> dict[tuple[str, str], tuple[int, int, int, str]]:
    """(database, suite) -> (passed, failed, skipped, rollout-caused) of each table row."""
    return {
        (row["database"], row["suite"]): (
            int(row["passed"]),
            int(row["failed"]),
            int(row["skipped"]),
            row["caused"],
        )
        for row in ROW.finditer(stdout)
    }


def demo_databases(pg_server) -> list[str]:
    """The demo's databases and the rehearsal's (``test_compat_demo_…``) left on the server."""
    with psycopg.connect(pg_server.conninfo()) as conn:
        rows = conn.execute(
            "SELECT datname FROM pg_database WHERE datname LIKE %s ORDER BY 1",
            ["%compat\\_demo\\_%"],
        ).fetchall()
    return [name for (name,) in rows]


def processes_with(marker: str) -> list[str]:
    """Command lines of the live processes whose environment holds ``marker``."""
    found = []
    for entry in PROC.glob("[0-9]*"):
        try:
            if marker.encode() in (entry / "environ").read_bytes():
                found.append((entry / "cmdline").read_bytes().replace(b"\0", b" ").decode())
        except OSError:  # gone meanwhile, or not ours to read
            continue
    return found


def test_release_1s_suite_passes_on_the_expanded_and_the_rolled_back_database(pg_server):
    done = run_demo(pg_server, "--reverse")

    assert done.returncode == 0, printed(done)
    release1, release2 = SUITE_SIZES["release1"], SUITE_SIZES["release2"]
    assert table(done.stdout) == {
        ("plain", "release 1"): (release1, 0, 0, "-"),
        ("expanded", "release 1"): (release1, 0, 0, "0"),
        ("rolled back", "release 1"): (release1, 0, 0, "0"),
        ("expanded", "release 2"): (release2, 0, 0, "0"),
        ("plain", "release 2"): (release2, 0, 0, "-"),
    }, printed(done)
    assert "No rollout-caused failure." in done.stdout
    assert "manage.py compat rehearse --new ../release2 --reverse" in done.stdout
    assert "==> blue (release1) survives the rollout of release2" in done.stdout
    assert "==> phase:" not in done.stdout, "the rehearsal ran the walkthrough"
    assert demo_databases(pg_server) == []


def test_a_plain_rename_in_release_2_fails_the_rehearsal_naming_the_tests(pg_server, tmp_path):
    unsafe = tmp_path / "release2_rename"
    shutil.copytree(RELEASE2, unsafe, ignore=shutil.ignore_patterns("__pycache__"))
    migration = unsafe / "bookshop" / "migrations" / "0002_rollout.py"
    text = migration.read_text()
    assert text.count(SAFE_OPERATION) == 1
    migration.write_text(text.replace(SAFE_OPERATION, UNSAFE_OPERATION))

    done = run_demo(pg_server, "--new", str(unsafe))

    assert done.returncode == 1, printed(done)
    rows = table(done.stdout)
    assert rows[("plain", "release 1")] == (SUITE_SIZES["release1"], 0, 0, "-"), printed(done)
    passed, failed, skipped, caused = rows[("expanded", "release 1")]
    assert failed > 0 and caused == str(failed), printed(done)
    named = re.findall(
        r"^\s+(bookshop\.tests\.\w+\.test_\w+) \(release 1, expanded\): "
        r"django\.db\.utils\.ProgrammingError: column \S*title\S* (?:of relation \S+ )?"
        r"does not exist\n\s+caused by RenameField in bookshop\.0002_rollout "
        r"\(Rename field title on book to name\)$",
        done.stdout,
        re.MULTILINE,
    )
    assert len(named) == failed, printed(done)
    assert "bookshop.tests.BooksApi.test_creates_a_book" in named
    assert "RolloutBreaksRelease: " in done.stdout
    assert "==> the rehearsal failed (exit 1)" in done.stdout
    assert demo_databases(pg_server) == []


@pytest.mark.skipif(not PROC.is_dir(), reason="looks for leftover processes in /proc (Linux)")
def test_an_interrupted_rehearsal_leaves_no_process_and_no_database(pg_server):
    marker = f"demo-rehearse-{uuid.uuid4()}"
    process = subprocess.Popen(
        demo_command(),
        cwd=REPO_ROOT,
        env=demo_environment(pg_server, marker),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert process.stdout is not None
    seen = []
    watchdog = threading.Timer(RUN_TIMEOUT_S, process.kill)  # a hung demo ends the loop
    watchdog.start()
    try:
        for line in process.stdout:  # until the suite starts on the rehearsal's database
            seen.append(line)
            if "manage test" in line:
                break
    finally:
        watchdog.cancel()
    assert "manage test" in "".join(seen), "".join(seen)
    assert processes_with(marker), "nothing of the rehearsal is running"

    process.send_signal(signal.SIGINT)
    rest, _ = process.communicate(timeout=RUN_TIMEOUT_S)

    output = "".join(seen) + rest
    assert process.returncode == 130, output
    assert "==> interrupted; the rehearsal and the demo database are gone" in rest, output
    assert "No rollout-caused failure." not in rest, "the rehearsal was not interrupted"
    assert demo_databases(pg_server) == []
    assert processes_with(marker) == []
