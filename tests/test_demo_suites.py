"""The demo's releases pass their own test suites, each on a database migrated by itself.

``compat rehearse`` runs release 1's suite on a database release 2 has expanded and counts
a failure as the rollout's only where the same test passes on the plain database; this is
that plain run. Each release runs as the demo deploys it (``Deployment``: its directory,
its colour, ``DATABASE_URL``), ``manage.py test`` in a subprocess: Django's runner creates
``test_<name>`` on the suite's server, migrates it with the release's own migrations, and
drops it at the end.
"""

from __future__ import annotations

import re
import subprocess

import psycopg
import pytest

from demo_project.catalogue import RELEASES
from demo_project.deployment import Deployment
from tests.test_test_runners import printed, run_python

# How many tests each release's suite holds: a test lost (an import error, a class no
# longer a TestCase) fails here instead of passing unseen.
SUITE_SIZES = {"release1": 32, "release2": 33}


def run_suite(pg_server, colour: str, release: str) -> subprocess.CompletedProcess[str]:
    deployment = Deployment(release, colour, pg_server.conninfo(f"demo_suite_{release}"))
    return run_python(
        deployment.directory,
        deployment.environment("manage.py test"),
        *("manage.py", "test", "--noinput", "-v", "2"),
    )


def database_exists(pg_server, name: str) -> bool:
    with psycopg.connect(pg_server.conninfo()) as conn:
        row = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        return row is not None


@pytest.mark.parametrize(("colour", "release"), list(RELEASES.items()), ids=list(RELEASES.values()))
def test_a_release_passes_its_own_suite(pg_server, colour: str, release: str) -> None:
    test_database = f"test_demo_suite_{release}"

    done = run_suite(pg_server, colour, release)

    assert done.returncode == 0, printed(done)
    ran = re.search(r"^Ran (\d+) tests? in ", done.stderr, re.MULTILINE)
    assert ran and int(ran[1]) == SUITE_SIZES[release], printed(done)
    assert re.search(r"^OK$", done.stderr, re.MULTILINE), printed(done)
    assert f"alias 'default' ('{test_database}')" in done.stderr, printed(done)
    assert not database_exists(pg_server, test_database)
