"""A project's own tests need no compat setting: Django's test runner and pytest-django.

``tests/runner_project`` creates its tables in 0001 and changes them with compat
operations in 0002, and sets nothing of compat_views but ``INSTALLED_APPS``. Each
runner, in a subprocess with no ``COMPAT_VIEWS_*`` in its environment, builds the
test database on the suite's server and keeps it, so that after the inner tests
passed (they check it too) this test finds no rollout and no ``compat_`` schema there.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from tests.conftest import admin

ROOT = Path(__file__).resolve().parent.parent
PROJECT = Path(__file__).resolve().parent / "runner_project"
RUN_TIMEOUT_S = 300


def run_python(
    directory: Path, env: dict[str, str], *command: str
) -> subprocess.CompletedProcess[str]:
    """``python *command`` in ``directory`` with exactly ``env``, as a CI job runs a suite."""
    return subprocess.run(
        [sys.executable, *command],
        cwd=directory,
        env=env,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
        check=False,
    )


def printed(done: subprocess.CompletedProcess[str]) -> str:
    """The end of what a run printed, for an assertion's message."""
    return f"--- stdout\n{done.stdout[-6000:]}\n--- stderr\n{done.stderr[-6000:]}"


def run_project(pg_server, name: str, *command: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("COMPAT_VIEWS_")}
    env.update(
        DJANGO_SETTINGS_MODULE="runner_settings",
        PYTHONPATH=os.pathsep.join([str(PROJECT), str(ROOT)]),
        RUNNER_DSN=pg_server.conninfo(),
        RUNNER_DB=name,
    )
    return run_python(PROJECT, env, *command)


def kept_test_database(pg_server, name: str) -> dict:
    """What the runner left in ``test_<name>``."""
    with psycopg.connect(pg_server.conninfo(f"test_{name}")) as conn:
        return {
            "rollouts": conn.execute("SELECT count(*) FROM compat_views_rollout").fetchone()[0],
            "schemas": conn.execute(
                "SELECT nspname FROM pg_namespace WHERE nspname LIKE %s", [r"compat\_%"]
            ).fetchall(),
            "tables": conn.execute(
                "SELECT table_name FROM information_schema.tables "
                "WHERE table_name LIKE 'pantry%%' ORDER BY 1"
            ).fetchall(),
            "jar": conn.execute(
                "SELECT column_name FROM information_schema.columns "
                "WHERE table_name = 'pantry_jar' ORDER BY ordinal_position"
            ).fetchall(),
        }


@pytest.fixture
def runner_db(pg_server, request):
    name = f"runner_{request.node.callspec.id}"
    admin(pg_server, f"DROP DATABASE IF EXISTS test_{name} WITH (FORCE)")
    yield name
    admin(pg_server, f"DROP DATABASE IF EXISTS test_{name} WITH (FORCE)")


@pytest.mark.parametrize(
    "command",
    [
        pytest.param(["-m", "django", "test", "--keepdb", "-v", "2"], id="django"),
        pytest.param(
            ["-m", "pytest", "-c", "pytest.ini", "-p", "no:cacheprovider", "--reuse-db", "-v"],
            id="pytest_django",
        ),
    ],
)
def test_a_projects_tests_run_with_no_compat_setting(pg_server, runner_db, command):
    done = run_project(pg_server, runner_db, *command)

    assert done.returncode == 0, printed(done)
    assert "test_no_rollout_was_opened" in done.stdout + done.stderr, printed(done)
    assert kept_test_database(pg_server, runner_db) == {
        "rollouts": 0,
        "schemas": [],
        "tables": [("pantry_cap",), ("pantry_jar",)],
        "jar": [("id",), ("name",), ("kilos",)],
    }
