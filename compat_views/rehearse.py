"""``manage.py compat rehearse``: the serving release's own suite on the expanded database.

Run from release 1's checkout (the code that serves now), it proves before a deploy that
release 1 keeps working once release 2's migrations have expanded the schema, and once
they are rolled back. Each release runs in a subprocess of its own
(``compat_views.rehearse_child``) with the same interpreter, on one throwaway database
named as Django's test runner names the alias's test database, so the suites reuse it
(``test --keepdb``, pytest-django's ``--reuse-db``):

1. create it, ``migrate`` it as release 1 (the legacy colour); run release 1's suite: the
   plain results;
2. ``migrate`` as release 2 (the new colour): the real expand; release 1's suite again, as
   the legacy colour (with ``--reverse``, release 2's suite too, as the new colour);
3. ``compat rollback``; release 1's suite once more;
4. (``--reverse``) release 2's suite on a database release 2 alone migrated: its plain results.

A test fails because of the rollout only if it passes in the plain run of its suite.
The plan lives apart from the execution: which failures count, which operation caused
each, the table and the JUnit XML are pure functions over plain data.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from xml.etree import ElementTree

from django.conf import settings as django_settings

from . import conf, live, naming
from .errors import RehearsalFailed
from .rehearse_child import RESULTS_ENV

PASSED, FAILED, ERROR, SKIPPED = "passed", "failed", "error", "skipped"
FAILING = frozenset({FAILED, ERROR})
MARKER = "compat_views rehearse: a throwaway database, dropped when the rehearsal ends"
CHILD = "compat_views.rehearse_child"
OUTPUT_TAIL_CHARS = 4000
PLAIN, EXPANDED, ROLLED_BACK = "plain", "expanded", "rolled back"
BASELINE = {EXPANDED: PLAIN, ROLLED_BACK: PLAIN}  # a run -> the run its failures count against


@dataclass(frozen=True)
class Result:
    outcome: str
    message: str = ""


@dataclass(frozen=True)
class Phase:
    """One run of one release's ``suite``: ``name`` says on which database (``BASELINE``)."""

    name: str
    suite: str
    results: Mapping[str, Result]


@dataclass(frozen=True)
class Finding:
    """A test of ``suite`` that fails in ``phase`` and passes in the plain run of it."""

    suite: str
    phase: str
    test: str
    error: str
    cause: str


@dataclass
class Report:
    phases: list[Phase] = field(default_factory=list)
    operations: list[dict] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def findings(self) -> list[Finding]:
        return findings(self.phases, self.operations)


# -- plan: pure functions ---------------------------------------------------------------

_SETTINGS_RE = re.compile(r"""DJANGO_SETTINGS_MODULE["']\s*,\s*["']([\w.]+)["']""")
# An exception's line in a traceback (pytest prefixes them with "E"); "CONTEXT:" lines
# name the PostgreSQL function an error was raised in.
_EXCEPTION_LINE = re.compile(r"^(?:E\s+)?(?P<type>[A-Za-z_]\w*(?:\.\w+)*): (?P<message>.*)$")
_NOT_AN_EXCEPTION = {"CONTEXT", "DETAIL", "HINT", "LINE", "QUERY"}


def settings_module(manage_py: str) -> str | None:
    """The settings module a ``manage.py`` sets by default."""
    found = _SETTINGS_RE.search(manage_py)
    return found.group(1) if found else None


def pytest_configured(directory: Path) -> bool:
    """Whether the project configures pytest-django (a pytest section naming its settings)."""
    sections = {
        "pytest.ini": "[pytest]",
        "pyproject.toml": "[tool.pytest",
        "setup.cfg": "[tool:pytest]",
        "tox.ini": "[pytest]",
    }
    for name, section in sections.items():
        path = directory / name
        text = path.read_text(errors="replace") if path.is_file() else ""
        if section in text and "DJANGO_SETTINGS_MODULE" in text[text.index(section) :]:
            return True
    return False


def parse_junit(text: str) -> dict[str, Result]:
    """Each test of a pytest JUnit XML report by its dotted id (``module.Class.test``);
    a test reported twice (a teardown error) keeps its worst outcome."""
    found: dict[str, Result] = {}
    for case in ElementTree.fromstring(text).iter("testcase"):
        test = ".".join(filter(None, (case.get("classname"), case.get("name"))))
        result = Result(PASSED)
        for tag, outcome in (("skipped", SKIPPED), ("failure", FAILED), ("error", ERROR)):
            element = case.find(tag)
            if element is not None:
                message = element.text or element.get("message") or ""
                result = Result(outcome, message)
        if test not in found or found[test].outcome not in FAILING:
            found[test] = result
    return found


def exception_lines(message: str) -> list[tuple[str, str]]:
    """(type, message) of each exception line of a traceback, CONTEXT lines included."""
    found = []
    for line in message.splitlines():
        match = _EXCEPTION_LINE.match(line)
        if match:
            found.append((match["type"], match["message"].strip()))
    return found


def sql_error(message: str) -> str:
    """The error a failure ended with (``django.db.utils.DataError: invalid input …``)."""
    lines = [(t, m) for t, m in exception_lines(message) if t.upper() not in _NOT_AN_EXCEPTION]
    if lines:
        return ": ".join(lines[-1])
    rest = [line for line in message.strip().splitlines() if line.strip()]
    return rest[-1].strip() if rest else "(no error text)"


def _mentions(text: str, name: str) -> bool:
    return bool(name) and re.search(rf"(?<!\w){re.escape(name.lower())}(?!\w)", text) is not None


def _evidence(text: str, operation: Mapping) -> tuple[int, int, int]:
    """How strongly an error's text points at an operation: it names the migration (our
    sync functions' own errors do), the columns, the table or the table's sync function."""
    tables = operation.get("tables", [])
    functions = [
        naming.sync_function(operation.get("schema", "public"), table, direction)
        for table in tables
        for direction in ("up", "down")
    ]
    return (
        int(operation["migration"].lower() in text),
        sum(_mentions(text, column) for column in operation.get("columns", [])),
        int(any(_mentions(text, table) for table in tables) or any(f in text for f in functions)),
    )


def cause(message: str, operations: Sequence[Mapping]) -> str:
    """The operation of release 2 an error points at, or '' when it names none.

    Only the exception lines are read (the traceback's source lines name columns too);
    among equal evidence the latest operation wins, as it shaped the table last.
    """
    text = "\n".join(f"{t}: {m}" for t, m in exception_lines(message)).lower()
    best, found = (0, 0, 0), ""
    for operation in operations:
        evidence = _evidence(text, operation)
        if evidence > (0, 0, 0) and evidence >= best:
            best, found = evidence, describe(operation)
    return found


def describe(operation: Mapping) -> str:
    return f"{operation['operation']} in {operation['migration']} ({operation['describe']})"


def findings(phases: Sequence[Phase], operations: Sequence[Mapping]) -> list[Finding]:
    """The tests that fail in a phase and pass in the plain run of the same suite."""
    runs = {(phase.suite, phase.name): phase for phase in phases}
    found = []
    for phase in phases:
        baseline = runs.get((phase.suite, BASELINE.get(phase.name, "")))
        if baseline is None:
            continue
        for test, result in sorted(phase.results.items()):
            before = baseline.results.get(test, Result(PASSED))
            if result.outcome in FAILING and before.outcome not in FAILING:
                found.append(
                    Finding(
                        phase.suite,
                        phase.name,
                        test,
                        sql_error(result.message),
                        cause(result.message, operations),
                    )
                )
    return found


def _counts(phase: Phase) -> dict[str, int]:
    outcomes = [result.outcome for result in phase.results.values()]
    return {
        PASSED: outcomes.count(PASSED),
        FAILED: sum(outcome in FAILING for outcome in outcomes),
        SKIPPED: outcomes.count(SKIPPED),
    }


def render_table(report: Report) -> str:
    """The summary: one row a suite run, then each rollout-caused failure with its cause."""
    found = report.findings
    header = ("database", "suite", "passed", "failed", "skipped", "rollout-caused")
    rows = [header]
    for phase in report.phases:
        counts = _counts(phase)
        caused = sum((f.suite, f.phase) == (phase.suite, phase.name) for f in found)
        rows.append(
            (
                phase.name,
                phase.suite,
                str(counts[PASSED]),
                str(counts[FAILED]),
                str(counts[SKIPPED]),
                str(caused) if phase.name in BASELINE else "-",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = [
        "  ".join(
            cell.ljust(w) if i < 2 else cell.rjust(w)
            for i, (cell, w) in enumerate(zip(row, widths, strict=True))
        )
        for row in rows
    ]
    lines += report.notes
    if found:
        lines.append(
            f"{len(found)} rollout-caused failure(s) (these tests pass on the plain database):"
        )
        for finding in found:
            lines.append(f"  {finding.test} ({finding.suite}, {finding.phase}): {finding.error}")
            lines.append(f"    caused by {finding.cause or 'an operation the error does not name'}")
    else:
        lines.append("No rollout-caused failure.")
    return "\n".join(lines)


def render_junit(report: Report) -> str:
    """JUnit XML, a test suite per run: a rollout-caused failure is a ``<failure>``; a test
    that fails on the plain database too is ``<skipped>`` (the rollout did not cause it)."""
    caused = {(f.suite, f.phase, f.test): f for f in report.findings}
    root = ElementTree.Element("testsuites", name="compat rehearse")
    for phase in report.phases:
        title = f"{phase.suite} on the {phase.name} database"
        suite = ElementTree.SubElement(root, "testsuite", name=title)
        for test, result in sorted(phase.results.items()):
            classname, _, name = test.rpartition(".")
            case = ElementTree.SubElement(suite, "testcase", classname=classname, name=name)
            finding = caused.get((phase.suite, phase.name, test))
            if finding is not None:
                text = f"{finding.error}\ncaused by {finding.cause or 'an unnamed operation'}"
                failure = ElementTree.SubElement(case, "failure", message=text)
                failure.text = result.message
            elif result.outcome in FAILING:
                ElementTree.SubElement(case, "skipped", message="fails on the plain database too")
            elif result.outcome == SKIPPED:
                ElementTree.SubElement(case, "skipped", message=result.message)
        suite.set("tests", str(len(phase.results)))
        suite.set("failures", str(sum(key[:2] == (phase.suite, phase.name) for key in caused)))
    return ElementTree.tostring(root, encoding="unicode", xml_declaration=True)


# -- execution --------------------------------------------------------------------------


@dataclass(frozen=True)
class Release:
    """One release's checkout: where its ``manage.py`` is, its settings and test runner."""

    label: str
    directory: Path
    settings: str
    runner: str  # "django" | "pytest"
    colour: str

    @classmethod
    def at(
        cls, label: str, directory: Path, colour: str, runner: str | None, default_settings: str
    ) -> Release:
        """The release checked out in ``directory``: its manage.py's settings module (else
        ``default_settings``), and ``runner`` or the one its files configure."""
        if not (directory / "manage.py").is_file():
            raise RehearsalFailed(
                f"{directory} has no manage.py: pass --new the directory of release 2's manage.py."
            )
        settings = settings_module((directory / "manage.py").read_text()) or default_settings
        runner = runner or ("pytest" if pytest_configured(directory) else "django")
        return cls(label, directory.resolve(), settings, runner, colour)


class Rehearsal:
    """The steps of one rehearsal on database ``name`` of ``alias``'s server."""

    def __init__(self, connection, name: str, old: Release, new: Release, stream) -> None:
        self.connection = connection
        self.alias = connection.alias
        self.name = name
        self.old, self.new = old, new
        self.stream = stream
        self.scratch = Path(tempfile.gettempdir())  # each run's own directory, in ``run``

    def run(self, reverse: bool, clobber: bool) -> Report:
        """The steps in order; the database and the results files go whatever happens."""
        self.create(clobber)
        with tempfile.TemporaryDirectory(prefix="compat-rehearse-") as scratch:
            self.scratch = Path(scratch)
            try:
                return self.steps(Report(), reverse)
            finally:
                self.drop()

    def steps(self, report: Report, reverse: bool) -> Report:
        """Steps 1 to 4 of the module's docstring, each run's results added to ``report``."""
        self.child(self.old, "manage", "migrate", "--noinput")
        report.phases.append(self.suite(self.old, PLAIN))
        report.operations = json.loads(self.child(self.new, "plan").stdout)
        self.child(self.new, "manage", "migrate", "--noinput")
        report.phases.append(self.suite(self.old, EXPANDED))
        if reverse:
            report.phases.append(self.suite(self.new, EXPANDED))
        if any(op["compat"] for op in report.operations):
            self.child(self.new, "manage", "compat", "rollback", "--force")
            report.phases.append(self.suite(self.old, ROLLED_BACK))
        else:
            report.notes.append("Release 2 applied no compat operation: no rollout to roll back.")
        if reverse:
            self.drop()
            self.create(clobber=False)
            self.child(self.new, "manage", "migrate", "--noinput")
            report.phases.append(self.suite(self.new, PLAIN))
        return report

    def say(self, text: str) -> None:
        if self.stream is not None:
            self.stream.write(text)

    def comment(self) -> tuple[str | None] | None:
        """The database's comment (MARKER on one the rehearsal made); None: no database."""
        with self.connection.creation._nodb_cursor() as cursor:
            cursor.execute(
                "SELECT pg_catalog.shobj_description(oid, 'pg_database') "
                "FROM pg_catalog.pg_database WHERE datname = %s",
                [self.name],
            )
            return cursor.fetchone()

    def create(self, clobber: bool) -> None:
        row = self.comment()
        with self.connection.creation._nodb_cursor() as cursor:
            if row is not None and row[0] != MARKER and not clobber:
                raise RehearsalFailed(
                    f"Database {self.name!r} exists and compat rehearse did not create it (it is "
                    f"the test database of {self.alias!r}): drop it, or pass --clobber to let "
                    "the rehearsal drop it. Nothing was changed."
                )
            quoted = self.connection.ops.quote_name(self.name)
            if row is not None:
                cursor.execute(f"DROP DATABASE {quoted} WITH (FORCE)")
            cursor.execute(f"CREATE DATABASE {quoted}")
            cursor.execute(f"COMMENT ON DATABASE {quoted} IS %s", [MARKER])

    def drop(self) -> None:
        with self.connection.creation._nodb_cursor() as cursor:
            cursor.execute(
                f"DROP DATABASE IF EXISTS {self.connection.ops.quote_name(self.name)} WITH (FORCE)"
            )

    def environment(self, release: Release, **extra: str) -> dict[str, str]:
        """The caller's environment with the release's settings module and colour forced,
        and release 1's colour as the legacy one (needed with more than two colours)."""
        return {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": release.settings,
            "COMPAT_VIEWS_COLOUR": release.colour,
            "COMPAT_VIEWS_LEGACY_COLOUR": self.old.colour,
            "PYTHONDONTWRITEBYTECODE": "1",
            **extra,
        }

    def child(
        self, release: Release, mode: str, *args: str, check: bool = True, **env: str
    ) -> subprocess.CompletedProcess[str]:
        """Run one command of ``release``; with ``check``, RehearsalFailed if it fails."""
        command = [sys.executable, "-m", CHILD, self.alias, self.name, mode, *args]
        self.say(f"  [{release.label} as {release.colour}] {' '.join([mode, *args])}")
        done = subprocess.run(
            command,
            cwd=release.directory,
            env=self.environment(release, **env),
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0 and check:
            raise RehearsalFailed(
                f"{release.label}'s `{mode} {' '.join(args)}` exited {done.returncode} in "
                f"{release.directory}:\n{tail(done)}\nFix it, then rehearse again."
            )
        return done

    def suite(self, release: Release, phase: str) -> Phase:
        stem = re.sub(r"\W", "_", f"{release.label} {phase}")
        results = self.scratch / f"{stem}.{'xml' if release.runner == 'pytest' else 'json'}"
        if release.runner == "pytest":
            args = ["-p", "no:cacheprovider", "--reuse-db", "-q", f"--junitxml={results}"]
            done = self.child(release, "pytest", *args, check=False)
        else:
            args = ["test", "--keepdb", "--noinput", "--testrunner", f"{CHILD}.RecordingRunner"]
            done = self.child(release, "manage", *args, check=False, **{RESULTS_ENV: str(results)})
        if self.comment() != (MARKER,):
            raise RehearsalFailed(
                f"{release.label}'s test suite ({release.runner}) dropped or re-created the "
                f"database {self.name!r} instead of reusing it, so its results say nothing of "
                "the rollout: take --create-db out of pytest's addopts, or a runner option "
                "that destroys the test database, then rehearse again."
            )
        if not results.is_file():
            raise RehearsalFailed(
                f"{release.label}'s test suite ({release.runner}) reported no results on the "
                f"{phase} database:\n{tail(done)}\nRun it in {release.directory} to see why."
            )
        text = results.read_text()
        if release.runner == "pytest":
            parsed = parse_junit(text)
        else:
            parsed = {test: Result(**value) for test, value in json.loads(text).items()}
        return Phase(phase, release.label, parsed)


def tail(done: subprocess.CompletedProcess[str]) -> str:
    out, err = done.stdout[-OUTPUT_TAIL_CHARS:], done.stderr[-OUTPUT_TAIL_CHARS:]
    return f"--- stdout\n{out}--- stderr\n{err}"


@contextmanager
def checkout(directory: Path, revision: str) -> Iterator[Path]:
    """Release 2 at ``revision`` of the git repository ``directory`` is in, as a temporary
    worktree (removed after): the directory there that matches ``directory``."""

    def git(*args: str, cwd: Path = directory) -> str:
        done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise RehearsalFailed(
                f"`git {' '.join(args)}` failed in {cwd}: {done.stderr.strip()}. Pass --new-rev a "
                "revision of the repository release 1 is checked out from, or --new a directory."
            )
        return done.stdout.strip()

    top = Path(git("rev-parse", "--show-toplevel"))
    with tempfile.TemporaryDirectory(prefix="compat-rehearse-rev-") as scratch:
        place = Path(scratch) / "tree"
        git("worktree", "add", "--detach", str(place), revision, cwd=top)
        try:
            yield place / directory.resolve().relative_to(top.resolve())
        finally:
            git("worktree", "remove", "--force", str(place), cwd=top)


def rehearse(
    connection,
    new: Path | None,
    new_rev: str | None,
    *,
    reverse: bool = False,
    runner: str | None = None,
    clobber: bool = False,
    stream=None,
) -> Report:
    """Rehearse the rollout of release 2 (``new``, or ``new_rev`` of this checkout's
    repository) under this release, run from its directory (the current one).

    This process's colour (else the first of COMPAT_VIEWS_COLOURS) is the legacy colour,
    the next one the new colour. The database is the alias's test database.
    """
    if connection.vendor != "postgresql":
        raise RehearsalFailed(
            f"Database {connection.alias!r} is not PostgreSQL: compat rehearse rehearses "
            "rollouts on PostgreSQL only; pass --database a PostgreSQL alias."
        )
    here = Path.cwd()
    legacy = conf.colour(connection.settings_dict) or conf.colours()[0]
    settings = django_settings.SETTINGS_MODULE
    old = Release.at("release 1", here, legacy, runner, settings)
    name = connection.creation._get_test_db_name()
    with checkout(here, new_rev) if new_rev else nullcontext(Path(new)) as directory:
        release = Release.at("release 2", directory, live.next_colours(legacy)[0], runner, settings)
        return Rehearsal(connection, name, old, release, stream).run(reverse, clobber)
