"""What the bench scripts share: this checkout on sys.path, Django in-process, scratch databases.

Every bench asserts the state it measures (``expect``), so a number is never printed
for a database that is not in the shape the bench claims.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import django
import psycopg
from django.conf import settings
from django.db import connections
from psycopg import sql

if TYPE_CHECKING:
    from compat_views.testing.postgres import Server

# Run as a file, Python puts bench/ (not the repository root) on sys.path; the bench
# must measure this checkout's compat_views, not whatever else is installed.
REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

NEW_COLOUR, LEGACY_COLOUR = "green", "blue"
SKIPPED = 2  # a bench's exit status when the machine lacks what it needs (it says what)


class BenchFailed(RuntimeError):
    """The database is not in the state the bench expects, so any timing would be a lie."""


def expect(condition: bool, message: str) -> None:
    if not condition:
        raise BenchFailed(message)


def configure_django(server: Server, app: str, package: str = "bench") -> None:
    """Settings in-process, so a bench needs no settings module of its own; ``app`` is
    a module of ``package`` (a bench app, or the demo's ``demo_project.release2``).

    The colour sits in the DATABASES entry (the per-alias override the library reads):
    this process is the new colour that runs ``migrate``.
    """
    entry = {**server.django_settings(server.dbname), "COMPAT_VIEWS_COLOUR": NEW_COLOUR}
    settings.configure(
        SECRET_KEY="compat-views-bench",
        USE_TZ=True,
        INSTALLED_APPS=["django.contrib.contenttypes", "compat_views", f"{package}.{app}"],
        DATABASES={"default": entry},
        DEFAULT_AUTO_FIELD="django.db.models.BigAutoField",
        COMPAT_VIEWS_COLOURS=(LEGACY_COLOUR, NEW_COLOUR),
    )
    django.setup()


def admin(server: Server, statement: sql.Composable) -> None:
    """Run on the maintenance database: CREATE/DROP DATABASE refuse transactions."""
    with psycopg.connect(server.conninfo(), autocommit=True) as conn:
        conn.execute(statement)


@contextmanager
def database(server: Server, label: str, template: str | None = None) -> Iterator[str]:
    """A new database (a copy of ``template`` if given), with Django's default alias on it.

    One database per measurement keeps them from sharing caches, bloat or rollout
    state. A template must have no session, so Django's connection is closed first.
    """
    name = f"compat_bench_{os.getpid()}_{label}"
    create = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
    if template:
        create = sql.SQL("{} TEMPLATE {}").format(create, sql.Identifier(template))
    connections["default"].close()
    admin(server, create)
    connections["default"].settings_dict["NAME"] = name
    try:
        yield name
    finally:
        connections["default"].close()
        admin(server, sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))


def machine(server: Server) -> str:
    """The machine and server every table is measured on, printed with each of them."""
    model = "unknown CPU"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    with psycopg.connect(server.conninfo(), autocommit=True) as conn:
        (version,) = conn.execute("SHOW server_version").fetchone()
    return f"{os.cpu_count()} cores, {model}; PostgreSQL {version.split()[0]}"


class BackendClock:
    """CPU seconds a server backend has run, read from ``/proc/<pid>/schedstat``.

    On a shared machine a statement's wall time includes the time its backend waited
    for a core; its CPU time does not, so comparing CPU times of CPU-bound statements
    (a bulk UPDATE of cached rows) is far steadier. Only a local server's backends can
    be read; otherwise the clock falls back to wall time and says so.
    """

    def __init__(self, conn: psycopg.Connection) -> None:
        (pid,) = conn.execute("SELECT pg_catalog.pg_backend_pid()").fetchone()
        self.path = Path(f"/proc/{pid}/schedstat")
        self.cpu = self.path.exists()
        self.kind = "server CPU time" if self.cpu else "wall time"

    def __call__(self) -> float:
        if self.cpu:
            return int(self.path.read_text().split()[0]) / 1e9
        return time.perf_counter()

    @property
    def pid(self) -> int:
        return int(self.path.parent.name)


def one_cpu(clocks: Iterable[BackendClock]) -> bool:
    """Run this process and the clocks' backends on one CPU (the first this process may
    use); return whether they do (only a local server's backends, and only if we may move them).

    A backend answering a client on another CPU spends about four times the CPU on a
    lookup by key as one on the client's CPU (each statement wakes it across CPUs), and
    the scheduler keeps a session where it put it for minutes: two sessions compared
    would differ by where they ran, not by what they ran.
    """
    clocks = list(clocks)
    if not all(clock.cpu for clock in clocks) or not hasattr(os, "sched_setaffinity"):
        return False
    cpu = {min(os.sched_getaffinity(0))}
    try:
        for pid in (0, *(clock.pid for clock in clocks)):
            os.sched_setaffinity(pid, cpu)
    except OSError:
        return False
    return True


@dataclass
class Table:
    """One table of a bench's results: printed as text, written as Markdown by the report."""

    title: str
    headers: list[str]
    rows: list[list[str]]
    notes: list[str] = field(default_factory=list)

    def text(self, machine: str) -> str:
        grid = [self.headers, *self.rows]
        widths = [max(len(cell) for cell in column) for column in zip(*grid, strict=True)]
        lines = [self.title, f"  ({machine})"]
        for row in grid:
            cells = (f"{cell:>{width}}" for cell, width in zip(row, widths, strict=True))
            lines.append("  " + "  ".join(cells))
        return "\n".join([*lines, *(f"  {note}" for note in self.notes)])


@dataclass
class Target:
    """A figure and the target it is judged against, measured in the same run."""

    label: str
    value: float
    target: float
    unit: str  # "×", "%" (value and target as shares) or "ms"
    at_least: bool = False  # the figure must reach the target rather than stay under it

    @property
    def ok(self) -> bool:
        return self.value >= self.target if self.at_least else self.value <= self.target

    def shown(self, value: float) -> str:
        if self.unit == "%":
            return f"{value:.0%}"
        return f"{value:.2f}{self.unit}" if self.unit == "×" else f"{value:.1f} {self.unit}"

    def text(self) -> str:
        sign = "≥" if self.at_least else "≤"
        verdict = "PASS" if self.ok else "MISS"
        shown = f"{self.shown(self.value)} (target {sign} {self.shown(self.target)})"
        return f"{self.label}: {shown} {verdict}"


@dataclass
class Chart:
    """Data for one chart, drawn by the report: bars per category, or lines over sizes."""

    name: str  # file stem
    title: str
    ylabel: str
    labels: list[str]  # categories, or the x values of a line chart
    series: dict[str, list[float]]
    kind: str = "bar"  # "bar" | "line"
    reference: float | None = None  # a horizontal line, such as a target
    reference_label: str = "target"


@dataclass
class Results:
    """What a bench measured, as the report needs it; ``--json`` writes it to a file."""

    bench: str
    machine: str
    tables: list[Table] = field(default_factory=list)
    targets: list[Target] = field(default_factory=list)
    charts: list[Chart] = field(default_factory=list)

    def print(self) -> None:
        for table in self.tables:
            print()
            print(table.text(self.machine))
        if self.targets:
            print()
            print("targets")
            for target in self.targets:
                print(f"  {target.text()}")

    def dump(self, path: str | None) -> None:
        if path:
            Path(path).write_text(json.dumps(asdict(self), indent=1, ensure_ascii=False))

    @classmethod
    def load(cls, path: Path) -> Results:
        data = json.loads(path.read_text())
        return cls(
            bench=data["bench"],
            machine=data["machine"],
            tables=[Table(**each) for each in data["tables"]],
            targets=[Target(**each) for each in data["targets"]],
            charts=[Chart(**each) for each in data["charts"]],
        )


def positive(text: str) -> int:
    """An argparse type: a whole number of at least 1."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def query(statement: str, params: Sequence[object] | None = None) -> list[tuple]:
    """Rows of one statement on Django's default connection (none for a command)."""
    with connections["default"].cursor() as cursor:
        cursor.execute(statement, params)
        return cursor.fetchall() if cursor.description else []


def columns(schema: str, table: str) -> set[str]:
    """The names of the relation's columns, as information_schema lists them."""
    return {
        name
        for (name,) in query(
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_schema = %s AND table_name = %s",
            [schema, table],
        )
    }


def json_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", metavar="PATH", help="also write the results to PATH as JSON")


def run_bench(
    app: str,
    name: str,
    json_path: str | None,
    measure: Callable[[Server], Any],
    report: Callable[[Results, Any], None],
) -> int:
    """What every bench's ``main`` does around its own ``measure`` and ``report``.

    A throwaway server (or the one ``COMPAT_VIEWS_TEST_DSN`` names), Django configured
    for ``app``, the results printed and written as JSON; exit status 1 when a
    correctness check failed, so no number is printed for a database in the wrong shape.
    """
    from compat_views.testing.postgres import throwaway_server

    started = time.perf_counter()
    with throwaway_server() as server:
        configure_django(server, app)
        results = Results(name, machine(server))
        try:
            measured = measure(server)
        except BenchFailed as exc:
            print(f"bench failed: {exc}", file=sys.stderr)
            return 1
    report(results, measured)
    results.print()
    results.dump(json_path)
    missed = sum(not target.ok for target in results.targets)
    print(f"{missed} target(s) missed; total wall time {time.perf_counter() - started:.1f} s")
    return 0
