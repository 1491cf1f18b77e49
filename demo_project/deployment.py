"""One release deployed as one colour: its ``manage.py`` run the way a deploy would run it.

Each call is a subprocess in the release's own directory, so the two releases never share
a Python process, an app registry or a ``bookshop`` module; only the environment says which
database and which colour.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DEMO_DIR = Path(__file__).resolve().parent
REPO_ROOT = DEMO_DIR.parent


class CommandFailed(RuntimeError):
    """A release's command exited non-zero; the message carries its output."""


@dataclass(frozen=True)
class Deployment:
    release: str  # a directory of demo_project: "release1", "release2"
    colour: str
    database_url: str

    @property
    def directory(self) -> Path:
        return DEMO_DIR / self.release

    @property
    def label(self) -> str:
        return f"{self.colour} ({self.release})"

    def environment(self) -> dict[str, str]:
        """The caller's environment with the slot's settings forced, never inherited."""
        python_path = filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")])
        return {
            **os.environ,
            "DATABASE_URL": self.database_url,
            "COMPAT_VIEWS_COLOUR": self.colour,
            "DJANGO_SETTINGS_MODULE": "settings",
            "PYTHONPATH": os.pathsep.join(python_path),
            "PYTHONDONTWRITEBYTECODE": "1",  # leave no __pycache__ in the release trees
        }

    def manage(self, *args: str, stdin: str | None = None, echo: bool = True) -> str:
        """Run ``manage.py *args``; return its stdout, or raise with everything it printed."""
        if echo:
            print(f"  $ [{self.label}] manage.py {' '.join(args)}", flush=True)
        done = subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=self.directory,
            env=self.environment(),
            input=stdin,
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            raise CommandFailed(
                f"[{self.label}] manage.py {' '.join(args)} exited {done.returncode}\n"
                f"--- stdout\n{done.stdout}--- stderr\n{done.stderr}"
            )
        if echo:
            _print_indented(done.stdout + done.stderr)
        return done.stdout

    def snapshot(self) -> dict[str, Any]:
        """What this colour reads right now: ``books list`` (the API's GET)."""
        return json.loads(self.manage("books", "list", echo=False))

    def add_books(self, payloads: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        """Create books in this release's shape (the API's POST, in one transaction)."""
        return json.loads(self.manage("books", "add", stdin=json.dumps(list(payloads)), echo=False))


def _print_indented(text: str) -> None:
    for line in text.rstrip().splitlines():
        print(f"      {line}")
