"""What the makemigrations tests share: a throwaway migrations package for the bookshop
app, migrations written into it as makemigrations writes them, placeholders filled in.

``bookshop`` is the label of ``tests.autodetect_app``; pointing MIGRATION_MODULES at a
fresh package lets each test write its own release 1 and release 2 migrations.
"""

from __future__ import annotations

import importlib
import re
import sys
import uuid
from pathlib import Path

import pytest
from django.db import models
from django.db.migrations.autodetector import MigrationAutodetector
from django.db.migrations.loader import MigrationLoader
from django.db.migrations.questioner import MigrationQuestioner
from django.db.migrations.state import ModelState, ProjectState
from django.db.migrations.writer import MigrationWriter

from compat_views.autodetector import compat_autodetector

APP = "bookshop"
_FILL_IN = re.compile(
    r"compat_views\.operations\.FILL_IN\((?:'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\")\)"
)


def model(name: str = "Book", /, **fields) -> ModelState:
    return ModelState(APP, name, [("id", models.BigAutoField(primary_key=True)), *fields.items()])


def state(*model_states: ModelState) -> ProjectState:
    project = ProjectState()
    for model_state in model_states:
        project.add_model(model_state)
    return project


class Yes(MigrationQuestioner):
    """Says yes to renames (as an interactive run would), and answers nothing else."""

    def __init__(self, **defaults):
        super().__init__(
            specified_apps={APP},
            defaults={"ask_rename": True, "ask_rename_model": True, **defaults},
        )


@pytest.fixture
def migrations_dir(tmp_path, monkeypatch, settings) -> Path:
    """An empty migrations package for the bookshop app, importable for this test."""
    name = f"bookshop_migrations_{uuid.uuid4().hex[:8]}"
    directory = tmp_path / name
    directory.mkdir()
    (directory / "__init__.py").write_text("")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(sys, "dont_write_bytecode", True)  # a filled-in file is read anew
    settings.MIGRATION_MODULES = {**settings.MIGRATION_MODULES, APP: name}
    yield directory
    forget(name)


def forget(package: str) -> None:
    """Drop the package's modules, so that the next loader imports the files as they are."""
    for module in [name for name in sys.modules if name.split(".")[0] == package]:
        del sys.modules[module]
    importlib.invalidate_caches()


def write(release1: ProjectState, release2: ProjectState, questioner=None) -> list[Path]:
    """Write, as makemigrations would, the migration creating release 1, then those taking
    it to release 2; return the files of the second step."""
    written = []
    for before, after in ((ProjectState(), release1), (release1, release2)):
        graph = MigrationLoader(None, ignore_no_migrations=True).graph
        autodetector = compat_autodetector(MigrationAutodetector)
        # The autodetector takes options out of the states it is given: give it copies.
        changes = autodetector(before.clone(), after.clone(), questioner or Yes()).changes(
            graph=graph, trim_to_apps={APP}
        )
        written = []
        for migration in changes[APP]:
            writer = MigrationWriter(migration)
            Path(writer.path).write_text(writer.as_string())
            written.append(Path(writer.path))
    return written


def fill(path: Path, *answers: str) -> None:
    """Replace the file's placeholders, in order, by these expressions."""
    pending = list(answers)
    text = _FILL_IN.sub(lambda match: repr(pending.pop(0)), path.read_text())
    assert pending == [] and not _FILL_IN.search(text), "one answer per placeholder"
    path.write_text(text)
    forget(path.parent.name)


def placeholders(path: Path) -> int:
    return len(_FILL_IN.findall(path.read_text()))
