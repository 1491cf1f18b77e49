"""``manage.py compat rehearse`` on the fixture in ``tests/rehearse_project``.

Release 1's suite (a TestCase, TransactionTestCases whose threads commit, a check of every
connection's colour) is rehearsed against a safe release 2 (compat operations only) and
two unsafe ones (a plain RenameField; an ``up`` that fails for some of release 1's values).
Each rehearsal runs ``python -m django compat rehearse`` in release 1's directory, as a
deploy pipeline would run ``manage.py compat rehearse``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROJECT = Path(__file__).resolve().parent / "rehearse_project"
RUN_TIMEOUT_S = 300


def rehearse(pg_server, *args: str, cwd: Path = PROJECT / "release1"):
    env = {k: v for k, v in os.environ.items() if not k.startswith("COMPAT_VIEWS_")}
    env.update(
        DJANGO_SETTINGS_MODULE="rehearse_settings",
        PYTHONPATH=str(ROOT),
        PYTHONDONTWRITEBYTECODE="1",
        REHEARSE_DSN=pg_server.conninfo(),
    )
    return subprocess.run(
        [sys.executable, "-m", "django", "compat", "rehearse", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
        check=False,
    )


def output(done) -> str:
    return f"--- stdout\n{done.stdout}\n--- stderr\n{done.stderr}"


def test_safe_release(pg_server):
    done = rehearse(pg_server, "--new", str(PROJECT / "release2_safe"), "--runner", "django")
    assert done.returncode == 0, output(done)
    print(output(done))
