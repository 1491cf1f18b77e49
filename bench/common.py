"""What the bench scripts share: this checkout on sys.path, Django in-process, scratch databases.

Every bench asserts the state it measures (``expect``), so a number is never printed
for a database that is not in the shape the bench claims.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

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
