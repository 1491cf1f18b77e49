"""The child side of ``compat rehearse``: one release's command on the rehearsal database.

``python -m compat_views.rehearse_child ALIAS NAME MODE ARGS...`` runs in a release's
directory, with that release's ``DJANGO_SETTINGS_MODULE`` and colour in its environment.
It loads the release's settings and, before ``django.setup()``, points the alias (and
its test database) at NAME, as Django's test runner points ``settings_dict`` at the test
database: the release's settings file is never edited, and nothing of the other release
is imported. MODE is one of:

- ``manage``: the ``manage.py`` command ARGS (``migrate``, ``compat rollback``, ``test``);
- ``pytest``: ``pytest ARGS`` (pytest-django reuses the database with ``--reuse-db``);
- ``plan``: print, as JSON, each operation ``migrate`` would apply, with the tables and
  columns it acts on (``rehearse`` names the cause of a failure from them).

For ``manage test``, ``--testrunner compat_views.rehearse_child.RecordingRunner`` is the
project's own ``TEST_RUNNER`` (a ``DiscoverRunner``) that also writes each test's outcome
and error text to the JSON file named by ``COMPAT_VIEWS_REHEARSE_RESULTS``.
"""

from __future__ import annotations

import functools
import json
import os
import sys
import unittest

RESULTS_ENV = "COMPAT_VIEWS_REHEARSE_RESULTS"


def point_at(alias: str, name: str) -> None:
    """Aim the alias, and the test database Django's runners derive from it, at ``name``."""
    from django.conf import settings

    entry = settings.DATABASES[alias]
    entry["NAME"] = name
    entry["TEST"] = {**entry.get("TEST", {}), "NAME": name}


def _model(state, app_label: str, name: str | None):
    try:
        return state.apps.get_model(app_label, name) if name else None
    except LookupError:
        return None


def _touched(operation, app_label: str, before, after) -> dict:
    """The tables and columns an operation acts on: its model's table before and after
    it (a rename has both), and for a field's operation that field's column(s)."""
    on_field = hasattr(operation, "model_name")
    attributes = ("name", "old_name", "new_name")
    names = [getattr(operation, a, None) for a in attributes]
    tables, columns = [], []
    for state in (before, after):
        for model_name in [operation.model_name] if on_field else names:
            model = _model(state, app_label, model_name)
            if model is None:
                continue
            tables.append(model._meta.db_table)
            fields = {f.name: f for f in model._meta.get_fields() if getattr(f, "column", None)}
            columns += [fields[n].column for n in names if on_field and n in fields]
    return {"tables": list(dict.fromkeys(tables)), "columns": list(dict.fromkeys(columns))}


def plan(alias: str) -> list[dict]:
    """The operations a plain ``migrate`` would apply, oldest first."""
    from django.db import connections
    from django.db.migrations.executor import MigrationExecutor

    from .catalog import first_base_schema
    from .operations.base import CompatOperation, database_operations

    connection = connections[alias]
    schema = first_base_schema(connection)
    executor = MigrationExecutor(connection)
    steps = executor.migration_plan(executor.loader.graph.leaf_nodes())
    state = executor._create_project_state(with_applied_migrations=True)
    found = []
    for migration, _ in steps:
        for operation in migration.operations:
            before = state.clone()
            operation.state_forwards(migration.app_label, state)
            found.append(
                {
                    "migration": f"{migration.app_label}.{migration.name}",
                    "operation": type(operation).__name__,
                    "describe": operation.describe(),
                    "compat": any(
                        isinstance(item, CompatOperation)
                        for item in database_operations([operation])
                    ),
                    "schema": schema,
                    **_touched(operation, migration.app_label, before, state),
                }
            )
    return found


def recording_result(base: type[unittest.TestResult]) -> type[unittest.TestResult]:
    """``base`` that also keeps each test's outcome and error text in ``outcomes``."""

    class Recording(base):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.outcomes: dict[str, dict[str, str]] = {}

        def _note(self, test, outcome: str, message: str = "") -> None:
            self.outcomes[test.id()] = {"outcome": outcome, "message": message}

        def addSuccess(self, test):
            super().addSuccess(test)
            self.outcomes.setdefault(test.id(), {"outcome": "passed", "message": ""})

        def addFailure(self, test, err):
            super().addFailure(test, err)
            self._note(test, "failed", self.failures[-1][1])

        def addError(self, test, err):
            super().addError(test, err)
            self._note(test, "error", self.errors[-1][1])

        def addSubTest(self, test, subtest, err):
            super().addSubTest(test, subtest, err)
            if err is not None:
                self._note(test, "failed", self._exc_info_to_string(err, test))

        def addSkip(self, test, reason):
            super().addSkip(test, reason)
            self._note(test, "skipped", reason)

        def addExpectedFailure(self, test, err):
            super().addExpectedFailure(test, err)
            self._note(test, "passed")

        def addUnexpectedSuccess(self, test):
            super().addUnexpectedSuccess(test)
            self._note(test, "failed", "unexpected success of a test marked expectedFailure")

    return Recording


class _Recording:
    """Mixed in before the project's runner class: record, then write at the end."""

    def get_resultclass(self):
        return recording_result(super().get_resultclass() or unittest.TextTestResult)

    def run_suite(self, suite, **kwargs):
        result = super().run_suite(suite, **kwargs)
        with open(os.environ[RESULTS_ENV], "w") as file:
            json.dump(result.outcomes, file)
        return result


@functools.cache
def _recording_runner() -> type:
    from django.conf import settings
    from django.utils.module_loading import import_string

    base = import_string(settings.TEST_RUNNER)
    return type("RecordingRunner", (_Recording, base), {})


def __getattr__(name: str):
    """``RecordingRunner`` is built on first use: its base is the project's TEST_RUNNER."""
    if name == "RecordingRunner":
        return _recording_runner()
    raise AttributeError(name)


def main(argv: list[str]) -> int:
    alias, name, mode, *args = argv
    sys.path.insert(0, os.getcwd())
    point_at(alias, name)
    if mode == "pytest":
        import pytest

        return int(pytest.main(args))
    import django

    django.setup()
    if mode == "plan":
        print(json.dumps(plan(alias)))
        return 0
    from django.core.management import execute_from_command_line

    execute_from_command_line(["manage.py", *args])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
