"""The connection contract: put ``compat_<colour>`` in front of every session's search_path.

Postgres skips schemas of the search_path that do not exist, so outside a rollout
every colour resolves to the base tables; the moment expand creates the legacy
schema, sessions of the legacy colour (even open ones) resolve to its views.
The session's application_name is tagged with the same name so that ``compat
complete`` / ``rollback`` can see which colours are still connected. A session the
server drops mid-command is one message saying what to run again (``lost_connection``).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from django.db import OperationalError, connections

from . import conf, naming
from .errors import ConnectionLost

_JOIN_COLOUR = """
SELECT pg_catalog.set_config('search_path',
         CASE WHEN pg_catalog.current_setting('search_path') = '' THEN %(schema)s
              WHEN pg_catalog.current_setting('search_path') LIKE %(prefix)s
                   THEN pg_catalog.current_setting('search_path')
              ELSE %(schema)s || ', ' || pg_catalog.current_setting('search_path') END, false),
       pg_catalog.set_config('application_name',
         CASE WHEN pg_catalog.current_setting('application_name') IN ('', %(schema)s)
              THEN %(schema)s
              ELSE %(schema)s || ':' || pg_catalog.current_setting('application_name') END, false)
"""


def join_colour(sender, connection, **kwargs) -> None:
    """``connection_created`` receiver (a signal, not a patch of Django).

    Django keeps a connection whose ``connection_created`` receiver raised (a colour
    that is not one of ``COMPAT_VIEWS_COLOURS``): its next query would run with no
    colour, as a new-shape writer. So it is closed first; the next use connects again
    and fails the same way, and under ``manage.py`` the ``ConfigurationError`` is one line.
    """
    if connection.vendor != "postgresql":
        return
    try:
        colour = conf.colour(connection.settings_dict)
        if colour is None:
            return
        schema = naming.legacy_schema(colour)
        with connection.cursor() as cursor:
            cursor.execute(_JOIN_COLOUR, {"schema": schema, "prefix": f"{schema},%"})
    except BaseException:
        connection.close()
        raise


@contextmanager
def lost_connection(alias: str, again: str) -> Iterator[None]:
    """Turn the loss of the server under a command into one message naming ``again``,
    the command to run once it answers; other database errors pass through.

    Every step commits whole or not at all and the commands resume from the state they
    saved, so a command cut short (a restart, a failover) is finished by running it again.
    """
    try:
        yield
    except OperationalError as exc:
        session = connections[alias].connection
        if session is not None and not session.closed:
            raise
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConnectionLost(
            f"The connection to database {alias!r} was lost ({reason}). Each step commits "
            "whole or not at all, so nothing is left half done: once the server answers "
            f"again, run {again}, which goes on from where this stopped."
        ) from exc
