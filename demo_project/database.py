"""A database that exists only for the demo run, on whatever server is at hand.

With ``DATABASE_URL`` set, a fresh ``compat_demo_<random>`` database is created on that
server (never touching the database the URL names); otherwise compat_views' throwaway
server is started. Either way the database is dropped at the end, also on Ctrl-C.
"""

from __future__ import annotations

import os
import secrets
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo

from compat_views.testing.postgres import throwaway_server

URL_ENV = "DATABASE_URL"


@contextmanager
def _server() -> Iterator[str]:
    """Conninfo of a server we may create databases on."""
    url = os.environ.get(URL_ENV)
    if url:
        yield url
        return
    with throwaway_server() as server:
        yield server.conninfo()


def _execute(conninfo: str, statement: sql.Composable) -> None:
    with psycopg.connect(conninfo, autocommit=True) as connection:
        connection.execute(statement)


@contextmanager
def fresh_database() -> Iterator[str]:
    """Yield the conninfo of an empty database that is dropped when the block ends."""
    with _server() as server:
        name = f"compat_demo_{secrets.token_hex(4)}"
        _execute(server, sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        try:
            yield make_conninfo(server, dbname=name)
        finally:
            drop_database(server, name)


def drop_database(server: str, name: str) -> None:
    """Drop database ``name``, its sessions ended first, if it exists; ``server`` is the
    conninfo of another database on its server. Warn, not raise: this runs while unwinding."""
    statement = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
    try:
        _execute(server, statement)
    except psycopg.Error as exc:
        print(f"warning: could not drop database {name}: {exc}", file=sys.stderr)
