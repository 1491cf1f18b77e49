"""Both colours through PgBouncer in transaction pooling mode, one role per colour.

PgBouncer lends each transaction whichever server connection of the client's
(database, user) pool is free, and in transaction mode resets none of them between
clients. So the colour cannot travel in the session: a ``SET search_path`` stays on the
server connection for the next client of that pool, and libpq ``options`` is refused.
It travels in the role (``ALTER ROLE … SET search_path``), which every server
connection of the role's pool starts with. ``migrate`` and ``compat`` connect to the
server directly, as the migrating role.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest
from django.conf import settings
from django.db import connections
from django.test import override_settings
from psycopg import errors

from compat_views.errors import SessionsConnected
from compat_views.testing import pgbouncer
from tests.harness import ColourWriter, columns, compat, leftovers, migrate, rows, wait_gone

PASSWORD = "pooler-test-password"
SHARED = "shared_app"  # one role for both colours: the set-up that does not work
SEED = 2000
WRITERS = 3  # a colour's clients, more than its pool has server connections
POOL_SIZE = 2

# The README's role set-up, run here as it is printed there (with another password).
ROLE_SQL = """\
CREATE ROLE blue_app LOGIN PASSWORD '%(password)s';
CREATE ROLE green_app LOGIN PASSWORD '%(password)s';
ALTER ROLE blue_app SET search_path = compat_blue, public;
ALTER ROLE green_app SET search_path = compat_green, public;
"""
GRANT_SQL = "GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO %s;\n"
# Each colour's release: the name and the unit of the account's two columns.
SHAPES = {"blue": ("holder", 1), "green": ("owner", Decimal("0.01"))}


def role(colour: str) -> str:
    return f"{colour}_app"


@pytest.fixture(scope="module")
def secrets(pg_server) -> dict[str, str]:
    """The SCRAM secrets of the app roles, as a production userlist holds them."""
    with psycopg.connect(pg_server.conninfo(), autocommit=True) as su:
        if not su.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [SHARED]).fetchone():
            su.execute(ROLE_SQL % {"password": PASSWORD})
            su.execute(f"CREATE ROLE {SHARED} LOGIN PASSWORD '{PASSWORD}'")
        query = "SELECT rolname, rolpassword FROM pg_authid WHERE rolname = ANY(%s)"
        found = su.execute(query, [[role("blue"), role("green"), SHARED]]).fetchall()
    return dict(found)


@contextmanager
def bouncer_for(pg_server, secrets, **options) -> Iterator[pgbouncer.PgBouncer]:
    if pgbouncer.find_binary() is None:
        pytest.skip("pgbouncer is not installed (Debian: apt-get install pgbouncer)")
    with pgbouncer.pgbouncer(pg_server, secrets, **options) as bouncer:
        yield bouncer


@pytest.fixture
def bouncer(pg_server, secrets):
    with bouncer_for(pg_server, secrets, pool_size=POOL_SIZE) as running:
        yield running


def client(bouncer, db: str, user: str, name: str = "") -> psycopg.Connection:
    """A client of the pooler. PgBouncer 1.18 keeps no prepared statement across the
    transactions of a client, so psycopg must not prepare any (Django does not either)."""
    return psycopg.connect(
        bouncer.conninfo(db, user, PASSWORD),
        autocommit=True,
        prepare_threshold=None,
        application_name=name,
    )


def release_1(db: str, grantees: str) -> None:
    """Release 1 migrated, its table granted to the app roles, seed rows written."""
    migrate("pooled", "0001")
    rows(GRANT_SQL % grantees)
    rows(
        "INSERT INTO pooled_account (holder, balance) "
        "SELECT 'seed-' || g, g FROM generate_series(1, %s) g",
        [SEED],
    )


class PooledWriter(ColourWriter):
    """One client of the pooler, writing accounts in its release's shape.

    ``ledger`` maps each account it committed to what it last wrote there, in the
    legacy shape's terms (holder, cents), or to None once it deleted it. A row is never
    touched after it is recorded, so the ledger can be checked while writers run.
    """

    def __init__(self, bouncer, db: str, colour: str, name: str) -> None:
        super().__init__("", colour, name)
        self.bouncer, self.db = bouncer, db
        self.ledger: dict[int, tuple[str, int] | None] = {}
        self.backends: set[int] = set()
        self.lock = threading.Lock()

    def connect(self) -> psycopg.Connection:
        return client(self.bouncer, self.db, role(self.colour), f"compat_{self.colour}:{self.name}")

    def step(self, conn: psycopg.Connection, n: int) -> None:
        column, unit = SHAPES[self.colour]
        holder, cents = f"{self.name}-{n}", 7 * n + 1
        row_id, backend = conn.execute(
            f"INSERT INTO pooled_account ({column}, balance) VALUES (%s, %s) "
            "RETURNING id, pg_backend_pid()",
            [holder, cents * unit],
        ).fetchone()
        self.backends.add(backend)
        written: tuple[str, int] | None = (holder, cents)
        if n % 3 == 0:
            with conn.transaction():  # two statements on one lent server connection
                conn.execute("SELECT 1 FROM pooled_account WHERE id = %s FOR UPDATE", [row_id])
                conn.execute(
                    f"UPDATE pooled_account SET {column} = {column} || '*', balance = balance + %s "
                    "WHERE id = %s",
                    [unit, row_id],
                )
            written = (holder + "*", cents + 1)
        if n % 5 == 0:
            conn.execute("DELETE FROM pooled_account WHERE id = %s", [row_id])
            written = None
        with self.lock:
            self.ledger[row_id] = written
        self.inserted += 1

    def snapshot(self) -> dict[int, tuple[str, int] | None]:
        with self.lock:
            return dict(self.ledger)


def start(bouncer, db: str, colour: str) -> list[PooledWriter]:
    writers = [PooledWriter(bouncer, db, colour, f"{colour}{i}") for i in range(WRITERS)]
    for writer in writers:
        writer.start()
    return writers


def stop(writers: list[PooledWriter]) -> None:
    for writer in writers:
        writer.finish()


def progress(writers: list[PooledWriter], steps: int = 10) -> None:
    """Wait until every writer has committed ``steps`` more rows (or has failed)."""
    targets = [(w, w.inserted + steps) for w in writers]
    deadline = time.monotonic() + 60
    while any(w.inserted < target and not w.errors for w, target in targets):
        assert time.monotonic() < deadline, "writers made no progress through the pooler"
        time.sleep(0.01)


def expected(writers: list[PooledWriter]) -> dict[int, tuple[str, int] | None]:
    """Seed rows (ids 1..SEED, untouched by writers) and every writer's ledger."""
    ledger: dict[int, tuple[str, int] | None] = {i: (f"seed-{i}", i) for i in range(1, SEED + 1)}
    for writer in writers:
        ledger.update(writer.snapshot())
    return ledger


def assert_rows(bouncer, db: str, colour: str, writers: list, exact: bool) -> None:
    """Every recorded row, read in ``colour``'s shape through the pooler; with ``exact``,
    no other row either."""
    column, unit = SHAPES[colour]
    ledger = expected(writers)  # before reading: a row recorded by then is never touched again
    with client(bouncer, db, role(colour), f"compat_{colour}:verify") as conn:
        query = f"SELECT id, {column}, balance FROM pooled_account"
        found = {row_id: (name, value) for row_id, name, value in conn.execute(query)}
    kept = {i: (w[0], w[1] * unit) for i, w in ledger.items() if w is not None}
    deleted = ledger.keys() - kept.keys()
    assert {i: found.get(i) for i in kept} == kept
    assert deleted.isdisjoint(found)
    if exact:
        assert found.keys() == kept.keys()


def retire(bouncer, db: str, writers: list[PooledWriter], end: str) -> None:
    """Stop a colour's release. Its server connections stay in the pool under its last
    clients' application_name, so ``complete`` / ``rollback`` still see the colour until
    the pooler lets them go (RECONNECT closes each one once it is released)."""
    colour = writers[0].colour
    stop(writers)
    with pytest.raises(SessionsConnected, match=f"compat_{colour}:"):
        compat(end)
    pooled = [
        pid
        for (pid,) in rows(
            "SELECT pid FROM pg_stat_activity WHERE usename = %s AND datname = %s",
            [role(colour), db],
        )
    ]
    assert pooled  # the pool kept them after the clients left
    bouncer.admin(f"RECONNECT {db}")
    wait_gone(pooled)


@pytest.mark.parametrize(
    "end, retired, serving", [("complete", "blue", "green"), ("rollback", "green", "blue")]
)
def test_both_colours_write_through_the_pooler_from_expand_to_the_end(
    db, bouncer, end, retired, serving
):
    release_1(db, f"{role('blue')}, {role('green')}")
    blue = start(bouncer, db, "blue")
    progress(blue)
    with override_settings(COMPAT_VIEWS_BACKFILL_BATCH_SIZE=400):
        migrate("pooled", "0002")  # expand and backfill while blue writes
    green = start(bouncer, db, "green")
    progress(blue + green)
    for colour in ("blue", "green"):  # each shape shows every row either colour wrote
        assert_rows(bouncer, db, colour, blue + green, exact=False)
    writers = {"blue": blue, "green": green}
    retire(bouncer, db, writers[retired], end)
    compat(end)  # while the serving colour writes on
    progress(writers[serving])
    stop(writers[serving])

    assert [e for w in blue + green for e in w.errors] == []
    assert_rows(bouncer, db, serving, blue + green, exact=True)
    assert leftovers() == {}
    final = ["id", "owner", "balance"] if end == "complete" else ["id", "holder", "balance"]
    assert columns("pooled_account") == final
    # A colour's clients shared its few server connections (the retired colour's all
    # from before RECONNECT); the two colours never shared one.
    backends = {colour: set().union(*(w.backends for w in writers[colour])) for colour in writers}
    assert len(backends[retired]) <= POOL_SIZE < WRITERS
    assert backends["blue"].isdisjoint(backends["green"])


def backend_and_path(conn: psycopg.Connection) -> tuple[int, str]:
    return conn.execute("SELECT pg_backend_pid(), current_setting('search_path')").fetchone()


@pytest.mark.parametrize("reset_always", [0, 1])
def test_a_colour_set_in_the_session_does_not_survive_the_pooler(
    db, pg_server, secrets, reset_always
):
    """With one role for both colours, blue's ``SET search_path`` either leaks to the
    next client (server_reset_query is not run in transaction mode) or, with
    server_reset_query_always, is gone by blue's own next transaction."""
    release_1(db, SHARED)
    migrate("pooled", "0002")
    extra = f"server_reset_query_always = {reset_always}\n"
    with bouncer_for(pg_server, secrets, pool_size=1, extra=extra) as bouncer:
        with client(bouncer, db, SHARED) as blue, client(bouncer, db, SHARED) as green:
            blue.execute("SET search_path = compat_blue, public")
            blue_backend, blue_path = backend_and_path(blue)
            green_backend, green_path = backend_and_path(green)
        assert green_backend == blue_backend  # the one server connection of the pool
        if reset_always:
            assert blue_path == green_path == '"$user", public'
        else:
            assert blue_path == green_path == "compat_blue, public"
            with client(bouncer, db, SHARED) as green:  # and after blue has left
                with pytest.raises(errors.UndefinedColumn, match='"owner"'):
                    green.execute(
                        "INSERT INTO pooled_account (owner, balance) VALUES ('new code', 1.50)"
                    )


def test_the_role_carries_the_colour_whatever_the_pool_does(db, pg_server, secrets):
    release_1(db, f"{role('blue')}, {role('green')}")
    migrate("pooled", "0002")
    extra = "server_reset_query_always = 1\n"  # DISCARD ALL after every transaction
    with bouncer_for(pg_server, secrets, pool_size=1, extra=extra) as bouncer:
        with (
            client(bouncer, db, role("blue")) as blue,
            client(bouncer, db, role("green")) as green,
        ):
            (blue_backend, blue_path), (green_backend, green_path) = (
                backend_and_path(blue),
                backend_and_path(green),
            )
            assert (blue_path, green_path) == ("compat_blue, public", "compat_green, public")
            assert blue_backend != green_backend  # one pool per (database, user)
            blue.execute("INSERT INTO pooled_account (holder, balance) VALUES ('old code', 150)")
            query = "SELECT balance FROM pooled_account WHERE owner = 'old code'"
            assert green.execute(query).fetchone() == (Decimal("1.50"),)


@contextmanager
def django_colours(bouncer, db: str, users: dict[str, str]) -> Iterator[dict]:
    """Django connections of each colour through the pooler, with ``COMPAT_VIEWS_COLOUR``
    set as a deployment sets it."""
    entries = {
        f"pooled_{colour}": {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": db,
            "USER": user,
            "PASSWORD": PASSWORD,
            "HOST": bouncer.host,
            "PORT": str(bouncer.port),
            "COMPAT_VIEWS_COLOUR": colour,
        }
        for colour, user in users.items()
    }
    connections.settings.update(connections.configure_settings({**settings.DATABASES, **entries}))
    try:
        yield {colour: connections[f"pooled_{colour}"] for colour in users}
    finally:
        for alias in entries:
            connections[alias].close()
            del connections[alias]
            del connections.settings[alias]


@pytest.mark.parametrize(
    "users, mode, stored",
    [
        ({"blue": role("blue"), "green": role("green")}, "transaction", Decimal("1.50")),
        ({"blue": SHARED, "green": SHARED}, "transaction", Decimal("0.02")),
        ({"blue": SHARED, "green": SHARED}, "session", Decimal("1.50")),
    ],
    ids=["role-per-colour", "shared-role", "shared-role-session-mode"],
)
def test_djangos_colour_setting_through_the_pooler(db, pg_server, secrets, users, mode, stored):
    """The colour setting joins a colour with a session-level ``set_config``, which a
    transaction pool leaves on the server connection after blue has gone. With a role
    per colour that changes nothing (the role's path already starts with the colour).
    With one shared role, green joins on top of blue's leftover path, compat_green does
    not exist, so green's 1.50 goes through blue's view as 2 cents. A session pool runs
    server_reset_query when blue leaves, so there the setting alone is enough."""
    release_1(db, ", ".join(sorted(set(users.values()))))
    migrate("pooled", "0002")
    with bouncer_for(pg_server, secrets, pool_size=1, extra=f"pool_mode = {mode}\n") as bouncer:
        with django_colours(bouncer, db, users) as django:
            django["blue"].ensure_connection()  # joins blue on the pool's server connection
            django["blue"].close()
            with django["green"].cursor() as cursor:
                cursor.execute("UPDATE pooled_account SET balance = 1.50 WHERE id = 1")
    assert rows("SELECT balance FROM public.pooled_account WHERE id = 1") == [(stored,)]


@pytest.mark.parametrize("ignored", [False, True])
def test_libpq_options_cannot_carry_a_colour_through_the_pooler(db, pg_server, secrets, ignored):
    """PgBouncer 1.18 refuses the ``options`` startup parameter, or drops it silently
    when told to ignore it: a legacy client would then write the new shape."""
    extra = "ignore_startup_parameters = options\n" if ignored else ""
    with bouncer_for(pg_server, secrets, pool_size=1, extra=extra) as bouncer:
        conninfo = bouncer.conninfo(db, SHARED, PASSWORD, options="-c search_path=compat_blue")
        if not ignored:
            with pytest.raises(psycopg.OperationalError, match="unsupported startup parameter"):
                psycopg.connect(conninfo)
        else:
            with psycopg.connect(conninfo) as conn:
                assert conn.execute("SHOW search_path").fetchone() == ('"$user", public',)


def test_readme_shows_the_tested_configuration():
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    example = pgbouncer.render(
        server_host="db.internal",
        server_port=5432,
        listen_port=6432,
        auth_file="/etc/pgbouncer/userlist.txt",
        pool_size=20,
        listen_addr="0.0.0.0",
    )
    assert example in readme
    assert ROLE_SQL % {"password": "…"} + GRANT_SQL % "blue_app, green_app" in readme
