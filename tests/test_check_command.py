"""``manage.py compat check`` and the deploy system check, on a real database.

Scenarios: ``unsafe`` (0002 is what makemigrations writes for a rename, a removal, a
type change, a NOT NULL column and an index; 0003 is hand-written SQL) and ``safe``
(0002 holds only changes the serving release survives and creates ``tag``, which 0003
then changes in ways that would break a release that knew the table).
"""

from __future__ import annotations

import os
import subprocess
import sys
from contextlib import contextmanager
from io import StringIO
from pathlib import Path

import pytest
from django.apps import apps
from django.core import checks
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connections

from tests.conftest import admin
from tests.harness import migrate, rows

ROOT = Path(__file__).resolve().parent.parent
UNSAFE_0002 = [
    "unsafe.0002_breaking: RenameField('item', 'title', 'name') renames column \"title\" of "
    '"unsafe_item" to "name": the release still serving reads and writes "title".',
    "unsafe.0002_breaking: RemoveField('item', 'obsolete') drops column \"obsolete\" of "
    '"unsafe_item": the release still serving reads and writes it.',
    "unsafe.0002_breaking: AlterField('item', 'pages', models.BigIntegerField(null=True)) "
    'changes the type of column "pages" of "unsafe_item" from integer to bigint',
    "unsafe.0002_breaking: AddField('item', 'sku', models.CharField(default='', "
    'max_length=20)) adds NOT NULL column "sku" to "unsafe_item" without a database default',
    "unsafe.0002_breaking: AddIndex('item', models.Index(fields=['name'], "
    'name=\'unsafe_item_name_ix\')) builds index "unsafe_item_name_ix" on "unsafe_item"',
]


def compat_check(*args: str, **options) -> tuple[str, CommandError | None]:
    """``compat check`` in this process: what it printed, and the error it ended with."""
    out = StringIO()
    try:
        call_command("compat", "check", *args, stdout=out, **options)
    except CommandError as exc:
        return out.getvalue(), exc
    return out.getvalue(), None


def listed(out: str) -> list[str]:
    """The operations of the listing (first line of each entry), without the indent."""
    return [line.strip() for line in out.splitlines() if line.startswith("  ") and ": " in line]


def starts(lines: list[str], prefixes: list[str]) -> bool:
    return len(lines) == len(prefixes) and all(
        a.startswith(b) for a, b in zip(lines, prefixes, strict=True)
    )


def test_breaking_unapplied_operations_are_listed_and_fail(db):
    migrate("unsafe", "0001")
    out, error = compat_check("unsafe")
    assert starts(listed(out)[:5], UNSAFE_0002), out
    assert "Use RenameCompatColumn('item', 'title', 'name')." in out
    assert "Use AddIndexConcurrently('item'," in out
    # The RunSQL is listed to review; it does not count.
    assert listed(out)[5].startswith(
        "unsafe.0003_isbn_index: RunSQL('CREATE INDEX unsafe_item_isbn_ix ON unsafe_item "
        "(isbn)') runs SQL that mentions CREATE INDEX without CONCURRENTLY"
    )
    assert (
        out.index("Operations that would break")
        < out.index("Not judged")
        < out.index("unsafe.0003")
    )
    assert out.rstrip().endswith(
        "5 breaking change(s) in 1 unapplied migration(s); 1 operation(s) not judged."
    )
    assert error is not None and str(error).startswith("5 breaking change(s), listed above")


def test_a_release_the_serving_one_survives_passes(db):
    migrate("safe", "0001")
    out, error = compat_check("safe")
    assert error is None, out
    assert out.strip() == "No unapplied migration would break the release still serving."


def test_a_table_is_new_only_to_the_plan_that_creates_it(db):
    migrate("safe", "0002")  # tag exists now: the release still serving knows it
    out, error = compat_check("safe")
    assert starts(
        listed(out),
        [
            "safe.0003_tag_weight: AlterField('tag', 'label', models.CharField(max_length=20)) "
            'changes the type of column "label" of "safe_tag" from varchar(50) to varchar(20)',
            "safe.0003_tag_weight: AddField('tag', 'weight', models.IntegerField(default=0)) "
            'adds NOT NULL column "weight" to "safe_tag"',
        ],
    ), out
    assert error is not None


def test_nothing_is_found_once_applied_but_all_audits_the_history(db):
    migrate("unsafe", "0003")
    out, error = compat_check("unsafe")
    assert (error, out.strip()) == (
        None,
        "No unapplied migration would break the release still serving.",
    )
    out, error = compat_check("unsafe", "--all")
    assert starts(
        listed(out)[:5], [line.replace(": ", " [applied]: ", 1) for line in UNSAFE_0002]
    ), out
    assert "5 breaking change(s) in 1 migration(s); 1 operation(s) not judged." in out
    assert error is not None


def test_an_unknown_app_label_is_a_clear_error(db):
    out, error = compat_check("nosuchapp")
    assert str(error) == "No installed app with label 'nosuchapp'. Name an app of INSTALLED_APPS."


@contextmanager
def alias(name: str, entry: dict):
    """A database alias ``name`` for the length of the block."""
    entry = {**entry, "COMPAT_VIEWS_COLOUR": "green"}
    connections.settings[name] = connections.configure_settings({"default": entry, name: entry})[
        name
    ]
    try:
        yield name
    finally:
        connections[name].close()
        del connections[name]
        del connections.settings[name]


@pytest.fixture
def empty_alias(pg_server, db):
    """An alias on an empty database: no django_migrations, no compat_views tables."""
    name = f"{db}_bare"
    admin(pg_server, f"CREATE DATABASE {name}")
    try:
        with alias("bare", pg_server.django_settings(name)) as bare:
            yield bare
    finally:
        admin(pg_server, f"DROP DATABASE {name} WITH (FORCE)")


def test_database_chooses_whose_applied_migrations_count(db, empty_alias):
    migrate("unsafe", "0003")
    assert compat_check("unsafe")[1] is None
    out, error = compat_check("unsafe", database=empty_alias)
    # Nothing is applied there, so unsafe_item is created by the same plan: nothing breaks.
    assert (error, listed(out)) == (
        None,
        [
            "unsafe.0003_isbn_index: RunSQL('CREATE INDEX unsafe_item_isbn_ix ON unsafe_item "
            "(isbn)') runs SQL that mentions CREATE INDEX without CONCURRENTLY, which compat "
            "check does not judge."
        ],
    )
    # It only read: the database is still empty.
    with connections[empty_alias].cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_catalog.pg_tables WHERE schemaname = 'public'")
        assert cursor.fetchone() == (0,)


def test_it_works_before_compat_views_has_its_own_tables(db):
    migrate("unsafe", "0001")
    rows("DROP TABLE compat_views_appliedoperation, compat_views_touchedtable CASCADE")
    rows("DROP TABLE compat_views_rollout CASCADE")
    rows("DELETE FROM django_migrations WHERE app = 'compat_views'")
    out, error = compat_check("unsafe")
    assert starts(listed(out)[:5], UNSAFE_0002), out


def run_django(conninfo: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.subprocess_settings",
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        "COMPAT_VIEWS_SUBPROCESS_DSN": conninfo,
    }
    return subprocess.run(
        [sys.executable, "-m", "django", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_exit_status_gates_ci(db, conninfo):
    migrate("unsafe", "0001")
    migrate("safe", "0001")
    connections.close_all()
    failed = run_django(conninfo, "compat", "check", "unsafe")
    assert failed.returncode == 1, failed
    assert starts(listed(failed.stdout)[:5], UNSAFE_0002), failed.stdout
    assert failed.stderr.strip().startswith("CommandError: 5 breaking change(s), listed above")
    passed = run_django(conninfo, "compat", "check", "safe")
    assert (passed.returncode, passed.stdout.strip()) == (
        0,
        "No unapplied migration would break the release still serving.",
    ), passed


def ours(found: list) -> list:
    return [m for m in found if m.id.startswith("compat_views.")]


def test_the_system_check_runs_at_deploy_only(db):
    migrate("unsafe", "0001")
    unsafe = [apps.get_app_config("unsafe")]
    assert ours(checks.run_checks(app_configs=unsafe)) == []
    found = ours(
        checks.run_checks(app_configs=unsafe, include_deployment_checks=True, tags=["compat_views"])
    )
    assert [(m.id, m.obj, m.level) for m in found] == [
        ("compat_views.W010", "unsafe.0002_breaking", checks.WARNING)
    ] * 5
    assert found[0].msg == (
        "RenameField('item', 'title', 'name') renames column \"title\" of \"unsafe_item\" to "
        '"name": the release still serving reads and writes "title".'
    )
    assert found[0].hint == "Use RenameCompatColumn('item', 'title', 'name')."
    assert str(found[0]).startswith("unsafe.0002_breaking: (compat_views.W010) RenameField(")
    with pytest.raises(CommandError, match="no system check with the .compat_views. tag"):
        call_command("check", "--tag", "compat_views")


def test_check_deploy_fails_on_warnings_when_asked(db, conninfo):
    migrate("unsafe", "0001")
    connections.close_all()
    done = run_django(
        conninfo, "check", "--deploy", "--tag", "compat_views", "--fail-level", "WARNING", "unsafe"
    )
    assert done.returncode == 1, done
    assert done.stderr.count("(compat_views.W010)") == 5, done.stderr
    assert "HINT: Use RenameCompatColumn('item', 'title', 'name')." in done.stderr
    done = run_django(conninfo, "check", "--deploy", "--tag", "compat_views", "safe")
    assert (done.returncode, done.stdout.strip()) == (
        0,
        "System check identified no issues (0 silenced).",
    ), done


def test_an_unreachable_database_is_a_warning_not_a_crash(db, pg_server):
    with alias("missing", pg_server.django_settings(f"{db}_missing")):
        found = ours(
            checks.run_checks(
                include_deployment_checks=True, tags=["compat_views"], databases=["missing"]
            )
        )
    assert [m.id for m in found] == ["compat_views.W011"], found
    assert "could not read the migrations applied to database 'missing'" in found[0].msg
    assert "compat check" in found[0].hint
