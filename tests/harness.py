"""The lifecycle harness: expand, check, rollback, check, expand, complete, check.

Scenarios are tiny migration packages under ``tests/scenarios``. The legacy
colour's ORM is the historical model at the migration before the rollout,
used through the ``legacy`` alias (search_path ``compat_blue, …``); the new
colour's ORM is the historical model after it, through ``default``.
"""

from __future__ import annotations

import threading
import time
import weakref

import psycopg
from django.core.management import call_command
from django.db import connections
from django.db.backends.signals import connection_created
from django.db.migrations.executor import MigrationExecutor

from compat_views import catalog


def migrate(app_label: str, target: str, database: str = "default") -> None:
    """``migrate`` as the colour of ``database``: release 1's migrations run as the legacy
    colour (alias ``legacy``) where a test writes release 2's files after them, since a
    newer release from the colour that migrated last is refused (``live``)."""
    call_command("migrate", app_label, target, database=database, verbosity=0)


def apps_at(app_label: str, migration: str):
    """The historical models after ``migration``, related to one another."""
    executor = MigrationExecutor(connections["default"])
    return executor.loader.project_state((app_label, migration), at_end=True).apps


def model_at(app_label: str, migration: str, model_name: str):
    return apps_at(app_label, migration).get_model(app_label, model_name)


def rows(sql: str, params=None, alias: str = "default") -> list[tuple]:
    with connections[alias].cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall() if cursor.description else []


def columns(table: str) -> list[str]:
    return [c.name for c in catalog.columns(connections["default"], "public", table)]


def leftovers() -> dict[str, list[str]]:
    return {k: v for k, v in catalog.leftovers(connections["default"]).items() if v}


def wait_gone(pids: list[int]) -> None:
    """Wait until these backends have left pg_stat_activity.

    A backend exits a moment after its client closes the connection, and until then
    ``complete`` / ``rollback`` rightly count it as connected.
    """
    deadline = time.monotonic() + 30
    query = "SELECT count(*) FROM pg_catalog.pg_stat_activity WHERE pid = ANY(%s)"
    while rows(query, [pids])[0][0]:
        assert time.monotonic() < deadline, f"backends {pids} did not exit"
        time.sleep(0.01)


# Every backend a Django connection of the tests opened: (database, pid, client).
_opened: list[tuple[str, int, weakref.ref]] = []


def _remember(sender, connection, **kwargs) -> None:
    client = connection.connection
    _opened.append((connection.settings_dict["NAME"], client.info.backend_pid, weakref.ref(client)))


connection_created.connect(_remember)


def wait_closed_backends() -> None:
    """Wait for the backends of this test's closed Django connections to exit, whoever
    closed them (this harness, a test, ``close_all``): until then ``complete`` /
    ``rollback`` rightly count them as connected. Open ones are left alone, so a test
    can keep a colour's session connected on purpose. Each test has its own database,
    so earlier tests' entries (whose pids may since be reused) are dropped."""
    database = connections["default"].settings_dict["NAME"]
    closed, still_open = [], []
    for entry in _opened:
        name, pid, client = entry
        if name != database:
            continue
        alive = client()
        if alive is None or alive.closed:
            closed.append(pid)
        else:
            still_open.append(entry)
    wait_gone(closed)
    _opened[:] = still_open


def close_legacy() -> None:
    """Close the legacy alias's session and wait until the server let it go (with every
    other closed session of the test)."""
    connections["legacy"].close()
    wait_closed_backends()


def compat(*args: str) -> None:
    close_legacy()
    call_command("compat", *args, verbosity=0)


def applied(app_label: str) -> list[str]:
    return [
        name for app, name in rows("SELECT app, name FROM django_migrations") if app == app_label
    ]


def apply_operations(
    operations, app_label: str, at: str, alias: str = "default", also=(), migrations: int = 1
) -> None:
    """Apply operations the way Migration.apply does, outside any migration file.

    ``also`` names further migration nodes whose models the operations refer to;
    ``migrations`` splits the operations into that many consecutive transactions,
    as if each part were its own migration.
    """
    connection = connections[alias]
    nodes = [(app_label, at), *also]
    state = MigrationExecutor(connection).loader.project_state(nodes, at_end=True)
    size = -(-len(operations) // migrations)
    for start in range(0, len(operations), size):
        with connection.schema_editor() as editor:  # one transaction a migration
            for operation in operations[start : start + size]:
                new_state = state.clone()
                operation.state_forwards(app_label, new_state)
                operation.database_forwards(app_label, editor, state, new_state)
                state = new_state


class ColourWriter(threading.Thread):
    """One colour's application on its own raw connection, writing until told to stop.

    Subclasses say what one step writes; every failure is recorded, never raised, so
    a test can assert there were none.
    """

    def __init__(self, conninfo: str, colour: str, name: str) -> None:
        super().__init__(name=name, daemon=True)
        self.conninfo, self.colour = conninfo, colour
        self.stop = threading.Event()
        self.inserted = 0
        self.errors: list[str] = []
        self.pid: int | None = None

    def step(self, conn: psycopg.Connection, n: int) -> None:
        raise NotImplementedError

    def connect(self) -> psycopg.Connection:
        """A session of the colour, joined through libpq ``options``; its backend is
        waited for in ``finish``."""
        conn = psycopg.connect(
            self.conninfo,
            autocommit=True,
            application_name=f"compat_{self.colour}:{self.name}",
            options=f"-c search_path=compat_{self.colour},public",
        )
        self.pid = conn.info.backend_pid
        return conn

    def run(self) -> None:
        try:
            with self.connect() as conn:
                n = 0
                while not self.stop.is_set():
                    n += 1
                    try:
                        self.step(conn, n)
                    except Exception as exc:  # every failure is a finding
                        self.errors.append(f"{type(exc).__name__}: {exc}")
                    time.sleep(0.002)
        except Exception as exc:
            self.errors.append(f"connection: {type(exc).__name__}: {exc}")

    def finish(self) -> None:
        self.stop.set()
        self.join(timeout=30)
        if self.pid is not None:
            wait_gone([self.pid])
