"""The connection contract: put ``compat_<colour>`` in front of every session's search_path.

Postgres skips schemas of the search_path that do not exist, so outside a rollout
every colour resolves to the base tables; the moment expand creates the legacy
schema, sessions of the legacy colour (even open ones) resolve to its views.
The session's application_name is tagged with the same name so that ``compat
complete`` / ``rollback`` can see which colours are still connected.
"""

from __future__ import annotations

from . import conf, naming

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
