"""``manage.py makemigrations`` with COMPAT_VIEWS_AUTODETECTOR: the rollout template.

``migrations_templates/rollout`` holds two model files and the migrations makemigrations
wrote from them. Here makemigrations writes release 2's migration again, the way the
README tells (edit the models, run it, answer its questions), and the result is the
checked-in file; that file then goes through the whole rollout on a real database.
Other apps' autodetectors (django-pgtrigger's, one set up as django-syzygy's) still run
underneath, in a subprocess whose INSTALLED_APPS lists them.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
from importlib import import_module
from pathlib import Path

import django
import pytest
from django.conf import settings
from django.core.management import call_command
from django.db.migrations import operations as plain
from django.db.migrations.loader import MigrationLoader

from compat_views.operations import (
    AddCompatColumn,
    AlterCompatColumn,
    RemoveCompatColumn,
    RenameCompatColumn,
)
from tests.autodetect_harness import APP, migrations_dir  # noqa: F401  (fixture)
from tests.harness import applied, columns, compat, leftovers, migrate, model_at, rows
from tests.test_templates import comparable, load

ROOT = Path(__file__).parent.parent
TEMPLATE = ROOT / "migrations_templates" / "rollout" / "migrations"
RELEASE2 = "0002_rename_title_book_name_book_edition_and_more"
# The answers the template was made with: title was renamed to name; edition's one-off
# default for existing rows is 1 (Django asks both); price_cents' `down` is 0.
ANSWERS = "y\n1\n1\n0\n"


def migration(name: str):
    return MigrationLoader(None, ignore_no_migrations=True).disk_migrations[APP, name]


def release1_only(directory: Path | None = None) -> None:
    """Put the template's release-1 migration in the bookshop's migrations package."""
    if directory is None:
        directory = Path(import_module(settings.MIGRATION_MODULES[APP]).__file__).parent
    shutil.copy(TEMPLATE / "0001_initial.py", directory / "0001_initial.py")


def make(monkeypatch, *args: str, answers: str = "") -> str:
    """Run makemigrations for the bookshop, answering its questions; what it printed."""
    monkeypatch.setattr(sys, "stdin", io.StringIO(answers))
    out = io.StringIO()
    call_command("makemigrations", APP, *args, stdout=out, stderr=out)
    return out.getvalue()


@pytest.mark.usefixtures("db", "migrations_dir")  # makemigrations checks the history
def test_makemigrations_writes_the_rollout_template(settings, monkeypatch):
    settings.COMPAT_VIEWS_AUTODETECTOR = True
    release1_only()
    printed = make(monkeypatch, answers=ANSWERS)
    assert "RemoveCompatColumn('book', 'price_cents') needs `down`" in printed
    written, template = migration(RELEASE2), load(TEMPLATE / f"{RELEASE2}.py")
    assert [comparable(op) for op in written.operations] == [
        comparable(op) for op in template.operations
    ]
    assert sorted(written.dependencies) == sorted(template.dependencies)
    assert [type(op) for op in template.operations] == [
        RenameCompatColumn,
        AddCompatColumn,
        RemoveCompatColumn,
        AlterCompatColumn,
    ]
    assert (
        make(monkeypatch, "--check", "--dry-run").strip() == "No changes detected in app 'bookshop'"
    )


@pytest.mark.usefixtures("db", "migrations_dir")
def test_with_the_setting_off_makemigrations_writes_plain_operations(monkeypatch):
    release1_only()
    make(monkeypatch, answers="y\n1\n1\n")
    written = migration("0002_rename_title_book_name_remove_book_price_cents_and_more")
    assert [type(op) for op in written.operations] == [
        plain.RenameField,
        plain.RemoveField,
        plain.AddField,
        plain.AlterField,
    ]


def test_the_rollout_template_expands_rolls_back_and_completes(db):
    migrate(APP, "0001_initial", database="legacy")  # release 1 runs as blue
    Legacy = model_at(APP, "0001_initial", "Book").objects.using("legacy")
    New = model_at(APP, RELEASE2, "Book").objects.using("default")
    Legacy.create(isbn="1", title="Dune", pages=412, price_cents=1999)

    migrate(APP, RELEASE2)
    assert New.values_list("name", "pages", "edition").get() == ("Dune", 412, 1)
    Legacy.create(isbn="2", title="Emma", pages=474, price_cents=500)
    New.create(isbn="3", name="Ulysses", pages=732, edition=2)
    assert New.get(isbn="2").edition == 1  # up, for the column the legacy colour cannot see
    assert Legacy.values_list("title", "price_cents").get(isbn="3") == ("Ulysses", 0)  # down
    with pytest.raises(Exception, match="pages"):  # the legacy integer cannot hold it
        New.filter(isbn="3").update(pages=3_000_000_000)

    compat("rollback")
    assert columns("bookshop_book") == ["id", "isbn", "title", "pages", "price_cents"]
    assert leftovers() == {}
    assert applied(APP) == ["0001_initial"]
    assert sorted(Legacy.values_list("title", flat=True)) == ["Dune", "Emma", "Ulysses"]

    migrate(APP, RELEASE2)
    compat("complete")
    assert columns("bookshop_book") == ["id", "isbn", "name", "edition", "pages"]
    assert leftovers() == {}
    assert rows("SELECT name, pages, edition FROM bookshop_book ORDER BY isbn") == [
        ("Dune", 412, 1),
        ("Emma", 474, 1),
        ("Ulysses", 732, 1),  # rollback dropped the new column; the backfill gave it up
    ]


def makemigrations_process(tmp_path: Path, models: str, apps: str, *args: str, answers=""):
    """makemigrations in a process of its own, whose INSTALLED_APPS add ``apps`` after
    compat_views and whose bookshop has ``models``; release 1's migration is in place."""
    package = tmp_path / "bookshop_migrations"
    package.mkdir(exist_ok=True)
    (package / "__init__.py").touch()
    release1_only(package)
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(tmp_path), str(ROOT)]),
        "PYTHONDONTWRITEBYTECODE": "1",
        "DJANGO_SETTINGS_MODULE": "tests.autodetect_app.settings",
        "COMPAT_VIEWS_TEST_MODELS": models,
        "COMPAT_VIEWS_TEST_MIGRATIONS": "bookshop_migrations",
        "COMPAT_VIEWS_TEST_APPS": apps,
    }
    return subprocess.run(
        [sys.executable, "-m", "django", "makemigrations", APP, *args],
        cwd=ROOT,
        env=env,
        input=answers,
        capture_output=True,
        text=True,
        timeout=120,
    )


def written_operations(tmp_path: Path) -> list[str]:
    (path,) = (tmp_path / "bookshop_migrations").glob("0002_*.py")
    text = path.read_text()
    return [line.strip() for line in text.splitlines() if line.strip().endswith("(")]


def test_django_pgtrigger_trigger_operations_are_still_written(tmp_path):
    models = "tests.autodetect_app.with_trigger"
    run = makemigrations_process(tmp_path, models, "pgtrigger", answers=ANSWERS)
    assert run.returncode == 0, run.stderr
    assert sorted(written_operations(tmp_path)) == [
        "compat_views.operations.AddCompatColumn(",
        "compat_views.operations.AlterCompatColumn(",
        "compat_views.operations.RemoveCompatColumn(",
        "compat_views.operations.RenameCompatColumn(",
        "migrations.CreateModel(",
        "pgtrigger.migrations.AddTrigger(",
    ]
    again = makemigrations_process(tmp_path, models, "pgtrigger", "--check", "--dry-run")
    assert (again.returncode, again.stdout.strip()) == (0, "No changes detected in app 'bookshop'")


@pytest.mark.skipif(
    django.VERSION < (5, 2),
    reason="Django 4.2 reads a module global, which a command like django-syzygy's replaces",
)
def test_another_apps_makemigrations_still_runs_underneath(tmp_path):
    run = makemigrations_process(
        tmp_path,
        "migrations_templates.rollout.release2",
        "tests.autodetect_app.underneath",
        answers=ANSWERS,
    )
    assert run.returncode == 0, run.stderr
    assert "the autodetector underneath ran" in run.stderr
    assert written_operations(tmp_path) == [
        "compat_views.operations.RenameCompatColumn(",
        "compat_views.operations.AddCompatColumn(",
        "compat_views.operations.RemoveCompatColumn(",
        "compat_views.operations.AlterCompatColumn(",
    ]
