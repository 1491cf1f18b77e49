"""The books table seen directly, as an operator at ``psql`` would see it, with no colour.

The walkthrough loads the shop's existing catalogue here (fast, before any release serves),
waits for a stopped colour's sessions to leave, reads the final rows and columns to check
them, and, for testing the checker, breaks the sync trigger on purpose.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

TABLE = "bookshop_book"
MIGRATION = ("bookshop", "0002_rollout")


class BooksTable:
    """One autocommit session, closed with ``close``; it joins no colour, so it reads the
    base table (the new shape during a rollout)."""

    def __init__(self, conninfo: str) -> None:
        self._connection = psycopg.connect(
            conninfo, autocommit=True, row_factory=dict_row, application_name="compat_demo"
        )

    def close(self) -> None:
        self._connection.close()

    def load(self, rows: Sequence[dict[str, Any]]) -> list[int]:
        """COPY rows (at least one) in release 1's shape; return their ids in order."""
        columns = list(rows[0])
        statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
            sql.Identifier(TABLE), sql.SQL(", ").join(map(sql.Identifier, columns))
        )
        with self._connection.cursor() as cursor:
            with cursor.copy(statement) as copy:
                for row in rows:
                    copy.write_row([row[column] for column in columns])
            cursor.execute(
                sql.SQL("SELECT id, isbn FROM {}").format(sql.Identifier(TABLE)),
            )
            ids = {found["isbn"]: found["id"] for found in cursor.fetchall()}
        return [ids[row["isbn"]] for row in rows]

    def rows(self) -> list[dict[str, Any]]:
        return self._connection.execute(
            sql.SQL("SELECT * FROM {} ORDER BY id").format(sql.Identifier(TABLE))
        ).fetchall()

    def columns(self, relation: str = TABLE) -> list[str]:
        """The columns of ``relation`` (the table, or a view) in order, as ``\\d`` would list
        them; none if there is no such relation."""
        found = self._connection.execute(
            "SELECT attname FROM pg_catalog.pg_attribute "
            "WHERE attrelid = pg_catalog.to_regclass(%s) AND attnum > 0 AND NOT attisdropped "
            "ORDER BY attnum",
            [relation],
        )
        return [row["attname"] for row in found]

    def server(self) -> dict[str, str]:
        """The server's version, short (``server_version``) and long (``version()``)."""
        return self._connection.execute(
            "SELECT pg_catalog.current_setting('server_version') AS version, "
            "pg_catalog.version() AS build"
        ).fetchone()

    def migration_applied(self) -> bool:
        return bool(
            self._connection.execute(
                "SELECT 1 FROM django_migrations WHERE app = %s AND name = %s", MIGRATION
            ).fetchone()
        )

    def wait_until_gone(self, colour: str, timeout_s: float = 15.0) -> int:
        """Wait for the sessions of ``colour`` (tagged by compat_views in application_name)
        to leave; return how many are still there."""
        tag = f"compat_{colour}"
        deadline = time.monotonic() + timeout_s
        while True:
            (row,) = self._connection.execute(
                "SELECT count(*) AS n FROM pg_catalog.pg_stat_activity "
                "WHERE datname = pg_catalog.current_database() "
                "AND (application_name = %s OR application_name LIKE %s)",
                [tag, f"{tag}:%"],
            ).fetchall()
            if not row["n"] or time.monotonic() > deadline:
                return int(row["n"])
            time.sleep(0.1)

    def break_sync_trigger(self) -> list[str]:
        """Make the table's sync function a no-op (``RETURN NEW``); return what was broken.

        For testing the checker only: found through ``pg_trigger``, as the function the
        ``_compat_sync_…`` triggers execute, so the demo never needs the library's names.
        """
        functions = self._connection.execute(
            "SELECT DISTINCT n.nspname, p.proname FROM pg_catalog.pg_trigger t "
            "JOIN pg_catalog.pg_proc p ON p.oid = t.tgfoid "
            "JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace "
            "WHERE t.tgrelid = pg_catalog.to_regclass(%s) AND t.tgname LIKE %s",
            [TABLE, r"\_compat\_sync\_%"],
        ).fetchall()
        for function in functions:
            self._connection.execute(
                sql.SQL(
                    "CREATE OR REPLACE FUNCTION {}.{}() RETURNS trigger LANGUAGE plpgsql "
                    "AS $$BEGIN RETURN NEW; END$$"
                ).format(sql.Identifier(function["nspname"]), sql.Identifier(function["proname"]))
            )
        return [f"{function['nspname']}.{function['proname']}()" for function in functions]
