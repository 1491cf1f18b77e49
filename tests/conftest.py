"""Real-Postgres fixtures: one throwaway server a session, one fresh database a test.

Each test gets its own database cloned from a template that already holds the
compat_views state tables, so DDL-heavy tests never see each other's leftovers.
Two Django aliases point at it: ``default`` is the new colour (green, the one
that migrates) and ``legacy`` the legacy colour (blue).
"""

from __future__ import annotations

import itertools

import psycopg
import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import connections

from compat_views.testing.postgres import PostgresUnavailable, throwaway_server
from compat_views.testing.standby import standby_problem, streaming_standby

TEMPLATE = "compat_template"
_counter = itertools.count()


def _point_aliases_at(server, dbname: str) -> None:
    databases = {
        alias: {**server.django_settings(dbname), "COMPAT_VIEWS_COLOUR": colour}
        for alias, colour in (("default", "green"), ("legacy", "blue"))
    }
    connections.close_all()
    for alias in list(connections.settings):
        try:
            del connections[alias]
        except AttributeError:  # never opened in this thread
            pass
    settings.DATABASES = databases
    connections.settings.clear()
    connections.settings.update(connections.configure_settings(databases))


def admin(server, sql: str) -> None:
    with psycopg.connect(server.conninfo(), autocommit=True) as conn:
        conn.execute(sql)


@pytest.fixture(scope="session")
def pg_server(django_db_blocker):
    try:
        with throwaway_server() as server:
            admin(server, f"CREATE DATABASE {TEMPLATE}")
            with django_db_blocker.unblock():
                _point_aliases_at(server, TEMPLATE)
                call_command("migrate", "compat_views", verbosity=0)
                connections.close_all()
            yield server
    except PostgresUnavailable as exc:
        pytest.fail(str(exc))


@pytest.fixture
def db(pg_server, django_db_blocker):
    """A fresh database for this test; both aliases point at it."""
    name = f"compat_test_{next(_counter)}"
    admin(pg_server, f"CREATE DATABASE {name} TEMPLATE {TEMPLATE}")
    with django_db_blocker.unblock():
        _point_aliases_at(pg_server, name)
        try:
            yield name
        finally:
            connections.close_all()
    admin(pg_server, f"DROP DATABASE {name} WITH (FORCE)")


@pytest.fixture
def conninfo(pg_server, db):
    """libpq connection string of the test database, for raw psycopg sessions."""
    return pg_server.conninfo(db)


@pytest.fixture(scope="module")
def pg_standby(pg_server):
    """A streaming hot standby of the suite's server, for one module (``standby.py``).

    Each test's database, created on the primary from the template, reaches it by
    replay: ``Standby.wait_replayed`` before reading a new one there.
    """
    problem = standby_problem(pg_server)
    if problem is not None:
        pytest.skip(problem)
    with streaming_standby(pg_server) as standby:
        yield standby
