"""``manage.py compat rehearse`` on the fixture in ``tests/rehearse_project``.

Release 1's suite (TestCases, TransactionTestCases whose threads commit, a check of every
connection's colour) is rehearsed against a safe release 2 (compat operations only) and
two unsafe ones (a plain RenameField; an ``up`` that fails for some of release 1's
values). Each rehearsal runs ``python -m django compat rehearse`` in release 1's
directory, as a deploy pipeline runs ``manage.py compat rehearse``; the JUnit XML it
writes is read back. The flush it relies on and the plan's pure functions are tested
here directly.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from xml.etree import ElementTree

import psycopg
import pytest
from django.core.management import call_command

from compat_views import rehearse
from compat_views.errors import RolloutConflict
from compat_views.models import Rollout, TouchedTable
from compat_views.rehearse import Phase, Report, Result
from tests.conftest import admin
from tests.harness import migrate, model_at, rows

ROOT = Path(__file__).resolve().parent.parent
PROJECT = Path(__file__).resolve().parent / "rehearse_project"
RELEASE1 = PROJECT / "release1"
RUN_TIMEOUT_S = 300
RELEASE1_TESTS = {
    "cellar.tests.Bottles.test_label_round_trip",
    "cellar.tests.Bottles.test_vintage_year",
    "cellar.tests.Bottles.test_non_vintage",
    "cellar.tests.Fixtures.test_new_rows_take_the_keys_after_the_fixtures",
    "cellar.tests.Committed.test_a_thread_writes",
    "cellar.tests.Committed.test_b_the_table_was_emptied",
    "cellar.tests.Committed.test_every_connection_is_the_legacy_colour",
}


def run_rehearse(pg_server, *args: str, cwd: Path = RELEASE1) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("COMPAT_VIEWS_")}
    env.update(
        DJANGO_SETTINGS_MODULE="rehearse_settings",
        PYTHONPATH=str(ROOT),
        PYTHONDONTWRITEBYTECODE="1",  # leave no __pycache__ in the fixture's trees
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


def admin_databases(pg_server) -> list[tuple]:
    """Whether the rehearsal's database is there (it should be gone after each run)."""
    with psycopg.connect(pg_server.conninfo()) as conn:
        return conn.execute(
            "SELECT datname FROM pg_database WHERE datname = 'test_cellar'"
        ).fetchall()


def output(done: subprocess.CompletedProcess) -> str:
    return f"--- stdout\n{done.stdout}\n--- stderr\n{done.stderr}"


def junit(path: Path) -> dict[str, dict[str, ElementTree.Element]]:
    """Each test suite of the report by name: its test cases by dotted id."""
    return {
        suite.get("name"): {
            f"{case.get('classname')}.{case.get('name')}": case for case in suite.iter("testcase")
        }
        for suite in ElementTree.parse(path).getroot().iter("testsuite")
    }


def failed(cases: dict[str, ElementTree.Element]) -> dict[str, str]:
    """The failures' messages by test id."""
    return {
        test: case.find("failure").get("message")
        for test, case in cases.items()
        if case.find("failure") is not None
    }


def test_a_safe_release_breaks_no_test_before_or_after_rollback(pg_server, tmp_path):
    report = tmp_path / "rehearse.xml"
    done = run_rehearse(
        pg_server,
        *("--new", str(PROJECT / "release2_safe"), "--runner", "django", "--reverse"),
        *("--junit-xml", str(report)),
    )

    assert done.returncode == 0, output(done)
    assert "No rollout-caused failure." in done.stdout, output(done)
    assert "[release 1 as blue] manage test --keepdb --noinput" in done.stdout
    assert "[release 2 as green] manage test --keepdb --noinput" in done.stdout
    suites = junit(report)
    assert list(suites) == [
        "release 1 on the plain database",
        "release 1 on the expanded database",
        "release 2 on the expanded database",
        "release 1 on the rolled back database",
        "release 2 on the plain database",
    ]
    for name in suites:
        cases = suites[name]
        assert all(len(case) == 0 for case in cases.values()), name  # no failure, no skip
        if name.startswith("release 1"):
            assert set(cases) == RELEASE1_TESTS, name
        else:
            assert len(cases) == 3, name
    assert admin_databases(pg_server) == []


def test_a_plain_rename_fails_release_1s_tests_named_with_the_cause(pg_server, tmp_path):
    report = tmp_path / "rehearse.xml"
    done = run_rehearse(
        pg_server, "--new", str(PROJECT / "release2_rename"), "--junit-xml", str(report)
    )

    assert done.returncode == 1, output(done)
    assert "RolloutBreaksRelease" in done.stderr, output(done)
    assert "no rollout to roll back" in done.stdout, output(done)
    assert "[release 1 as blue] pytest -p no:cacheprovider --reuse-db" in done.stdout  # detected
    suites = junit(report)
    assert list(suites) == ["release 1 on the plain database", "release 1 on the expanded database"]
    assert failed(suites["release 1 on the plain database"]) == {}
    failures = failed(suites["release 1 on the expanded database"])
    assert failures["cellar.tests.Bottles.test_label_round_trip"] == (
        'django.db.utils.ProgrammingError: column "label" of relation "cellar_bottle" does not '
        "exist\ncaused by RenameField in cellar.0002_rename (Rename field label on bottle to name)"
    )
    assert "cellar.tests.Bottles.test_label_round_trip (release 1, expanded)" in done.stdout


def git(*args: str, cwd: Path) -> str:
    return subprocess.run(
        ["git", "-c", "user.name=rehearse", "-c", "user.email=rehearse@example.com", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()


def test_an_up_wrong_for_some_rows_from_a_git_revision(pg_server, tmp_path):
    """Release 2 is a commit of release 1's repository; its AlterCompatColumn casts the
    text vintage to an integer, which works for "2010" and fails for "NV"."""
    repository = tmp_path / "repository"
    shutil.copytree(RELEASE1, repository / "shop", symlinks=False)
    git("init", "-q", cwd=repository)
    git("add", "-A", cwd=repository)
    git("commit", "-qm", "release 1", cwd=repository)
    badup = PROJECT / "release2_badup" / "cellar"
    shutil.copy(badup / "models.py", repository / "shop" / "cellar" / "models.py")
    shutil.copy(
        badup / "migrations" / "0002_vintage.py", repository / "shop" / "cellar" / "migrations"
    )
    git("add", "-A", cwd=repository)
    git("commit", "-qm", "release 2", cwd=repository)
    release2 = git("rev-parse", "HEAD", cwd=repository)
    git("checkout", "-q", "HEAD~1", cwd=repository)

    done = run_rehearse(
        pg_server, "--new-rev", release2, "--runner", "django", cwd=repository / "shop"
    )

    assert done.returncode == 1, output(done)
    lines = done.stdout.splitlines()
    found = lines.index(
        "  cellar.tests.Bottles.test_non_vintage (release 1, expanded): django.db.utils.DataError:"
        ' invalid input syntax for type integer: "NV"'
    )
    assert lines[found + 1] == (
        "    caused by AlterCompatColumn in cellar.0002_vintage (Alter field vintage on bottle, "
        "keeping the old column in sync)"
    ), output(done)
    # the other tests write vintages that cast: "2010", "1999"
    assert "1 rollout-caused failure(s)" in done.stdout, output(done)
    assert "(release 1, rolled back)" not in done.stdout  # rollback mended them all
    assert len(git("worktree", "list", cwd=repository).splitlines()) == 1


def test_a_database_rehearse_did_not_create_is_refused_unless_clobbered(pg_server):
    admin(pg_server, "CREATE DATABASE test_cellar")
    try:
        done = run_rehearse(pg_server, "--new", str(PROJECT / "release2_safe"))
        assert done.returncode == 1, output(done)
        assert (
            "RehearsalFailed: Database 'test_cellar' exists and compat rehearse did not create it"
            in done.stderr
        ), output(done)
        assert admin_databases(pg_server) == [("test_cellar",)]

        done = run_rehearse(pg_server, "--new", str(PROJECT / "release2_safe"), "--clobber")
        assert done.returncode == 0, output(done)
        assert admin_databases(pg_server) == []
    finally:
        admin(pg_server, "DROP DATABASE IF EXISTS test_cellar")


def flush(database: str, **options) -> None:
    """flush as TransactionTestCase calls it (this test database has no content types)."""
    call_command("flush", database=database, inhibit_post_migrate=True, verbosity=0, **options)


def test_a_suite_that_recreates_the_database_is_refused(pg_server, tmp_path):
    """pytest-django's --create-db would run release 1's suite on a database of its own
    making, not the expanded one: the rehearsal stops, and drops the database."""
    release1 = tmp_path / "release1"
    shutil.copytree(RELEASE1, release1, symlinks=False)
    ini = release1 / "pytest.ini"
    ini.write_text(ini.read_text() + "addopts = --create-db\n")

    done = run_rehearse(pg_server, "--new", str(PROJECT / "release2_safe"), cwd=release1)

    assert done.returncode == 1, output(done)
    assert (
        "RehearsalFailed: release 1's test suite (pytest) dropped or re-created the database "
        "'test_cellar' instead of reusing it"
    ) in done.stderr, output(done)
    assert admin_databases(pg_server) == []


def test_a_legacy_flush_empties_the_tables_behind_its_views_and_keeps_the_rollout(db):
    migrate("library", "0001")
    legacy = model_at("library", "0001_initial", "Book").objects.using("legacy")
    legacy.create(isbn="1", title="Dune")
    migrate("library", "0002")
    legacy.create(isbn="2", title="Emma")
    touched = TouchedTable.objects.count()

    with pytest.raises(RolloutConflict, match="Pass --noinput"):
        flush("legacy")
    flush("legacy", interactive=False)

    assert rows("SELECT count(*) FROM public.library_book") == [(0,)]
    assert Rollout.objects.filter(status=Rollout.PENDING).count() == 1
    assert TouchedTable.objects.count() == touched
    flush("default", interactive=False)
    assert Rollout.objects.filter(status=Rollout.PENDING).count() == 1
    call_command("compat", "rollback", "--force", verbosity=0)
    assert rows("SELECT count(*) FROM compat_views_rollout WHERE status = 'rolled_back'") == [(1,)]


# -- the plan, without a database -------------------------------------------------------

PYTEST_FAILURE = """\
self = <cellar.tests.Bottles testMethod=test_label_round_trip>

>       Bottle.objects.create(label="Rioja", vintage="2015")

E       psycopg.errors.UndefinedColumn: column "label" of relation "cellar_bottle" does not exist
E       LINE 1: INSERT INTO "cellar_bottle" ("label", "vintage") VALUES ('Rioja', '2015')

The above exception was the direct cause of the following exception:
E       django.db.utils.ProgrammingError: column "label" of relation "cellar_bottle" does not exist
"""
OPERATIONS = [
    {
        "migration": "cellar.0002_x",
        "operation": "AddField",
        "describe": "Add field vintage to bottle",
        "tables": ["cellar_bottle"],
        "columns": ["vintage"],
        "schema": "public",
    },
    {
        "migration": "cellar.0003_y",
        "operation": "RenameField",
        "describe": "Rename field label on bottle to name",
        "tables": ["cellar_bottle"],
        "columns": ["label", "name"],
        "schema": "public",
    },
    {
        "migration": "cellar.0003_y",
        "operation": "AddField",
        "describe": "Add field size to shelf",
        "tables": ["cellar_shelf"],
        "columns": ["size"],
        "schema": "public",
    },
]


def test_the_error_and_its_cause_come_from_the_exception_lines_only():
    assert rehearse.sql_error(PYTEST_FAILURE) == (
        'django.db.utils.ProgrammingError: column "label" of relation "cellar_bottle" does not '
        "exist"
    )
    # the source line and LINE 1 mention vintage too; the error names label
    assert rehearse.cause(PYTEST_FAILURE, OPERATIONS).startswith("RenameField in cellar.0003_y")
    assert rehearse.cause("AssertionError: 1 != 0", OPERATIONS) == ""
    trigger = "DataError: bad\nCONTEXT:  PL/pgSQL function _compat_row_up_{}() line 1".format(
        rehearse.naming.digest("public", "cellar_shelf")
    )
    assert rehearse.cause(trigger, OPERATIONS).startswith(
        "AddField in cellar.0003_y (Add field size"
    )
    assert rehearse.sql_error("Traceback\n  ...\nAssertionError: 1 != 0\nHint: x") == (
        "AssertionError: 1 != 0"
    )


def test_a_failure_counts_only_where_the_plain_run_of_its_suite_passed():
    def phase(suite, name, **outcomes):
        return Phase(name, suite, {test: Result(o, f"E: {test}") for test, o in outcomes.items()})

    report = Report(
        phases=[
            phase("release 1", "plain", a="passed", b="failed", c="passed"),
            phase("release 1", "expanded", a="failed", b="failed", c="skipped", d="error"),
            phase("release 2", "expanded", a="failed"),
            phase("release 2", "plain", a="failed"),
        ]
    )
    found = [(f.suite, f.phase, f.test) for f in report.findings]
    assert found == [("release 1", "expanded", "a"), ("release 1", "expanded", "d")]
    table = rehearse.render_table(report).splitlines()
    assert table[:3] == [
        "database  suite      passed  failed  skipped  rollout-caused",
        "plain     release 1       2       1        0               -",
        "expanded  release 1       0       3        1               2",
    ]
    parsed = rehearse.parse_junit(rehearse.render_junit(report))
    assert parsed["a"].outcome == "failed"
    assert parsed["b"].outcome == "skipped"  # fails on the plain database too


def test_junit_keeps_a_tests_worst_report():
    text = (
        '<testsuites><testsuite><testcase classname="m.C" name="t"><error message="teardown">'
        'boom</error></testcase><testcase classname="m.C" name="t"/>'
        '<testcase classname="m.C" name="s"><skipped message="no"/></testcase></testsuite>'
        "</testsuites>"
    )
    assert rehearse.parse_junit(text) == {
        "m.C.t": Result("error", "boom"),
        "m.C.s": Result("skipped", "no"),
    }


def test_a_releases_settings_and_runner_are_read_from_its_files(tmp_path):
    manage = (PROJECT / "manage.py").read_text()
    assert rehearse.settings_module(manage) == "rehearse_settings"
    assert rehearse.settings_module("import sys") is None
    assert rehearse.pytest_configured(RELEASE1)
    assert not rehearse.pytest_configured(PROJECT / "release2_rename")
    (tmp_path / "pyproject.toml").write_text(
        '[tool.ruff]\nx = 1\n[tool.pytest.ini_options]\nDJANGO_SETTINGS_MODULE = "s"\n'
    )
    assert rehearse.pytest_configured(tmp_path)
