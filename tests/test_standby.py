"""Both colours read from a real streaming hot standby while the lifecycle runs on the primary.

The legacy views, sync triggers and rollout state are ordinary catalog rows, so they
reach a standby with the WAL: a session of either colour there resolves its tables the
way the same session on the primary does, as of the last replayed commit. Release 2 of
the bank app renames a column of each table, adds one filled by ``up`` (backfilled),
and changes the account balance from cents to units. Writers of both colours write on
the primary while readers of both colours read on the standby, through expand and
backfill, then complete or rollback. Every row a writer writes carries its own check
(a posting's memo names its cents, an account's name its balance), so a reader can tell
a row that is merely behind (allowed: replay lag) from one that is wrong (never), and
every standby read must have its colour's column names and no error.
"""

from __future__ import annotations

import threading
import time
from decimal import Decimal

import psycopg
import pytest
from django.conf import settings
from django.db import connections
from django.test import override_settings

from compat_views import naming
from compat_views.testing.standby import streaming_standby
from tests.harness import ColourWriter, compat, leftovers, migrate, model_at, rows

LEGACY = {
    "bank_account": ["id", "name", "balance"],
    "bank_posting": ["id", "account_id", "memo", "amount_cents"],
}
NEW = {
    "bank_account": ["id", "title", "code", "balance"],
    "bank_posting": ["id", "account_id", "note", "amount_cents", "amount"],
}
SHAPE = {"blue": LEGACY, "green": NEW}  # each colour's release, whatever the phase
ACCOUNTS = 5
SEED = 2000
STEPS = 30  # reads or writes each worker must make in a phase before it moves on
PROGRESS_DEADLINE = 60
REPLICA_OPTIONS = "-c statement_timeout=5s -c idle_in_transaction_session_timeout=5s"


def colour_session(conninfo: str, colour: str, name: str) -> psycopg.Connection:
    """A session of the colour, joined the way any client joins one (libpq options)."""
    return psycopg.connect(
        conninfo,
        autocommit=True,
        application_name=f"compat_{colour}:{name}",
        options=f"-c search_path=compat_{colour},public",
    )


def wrong_row(colour: str, table: str, row: dict) -> bool:
    """Whether a row breaks the check its writer gave it, in the colour's shape."""
    if table == "bank_posting":
        if colour == "blue":
            return row["memo"] != f"p{row['amount_cents']}"
        cents = row["amount_cents"]
        return row["note"] != f"p{cents}" or row["amount"] != Decimal(cents).scaleb(-2)
    if colour == "blue":
        return row["name"] != f"acct-{row['balance']}"
    cents = int(row["balance"].scaleb(2))
    return row["title"] != f"acct-{cents}" or row["code"] != row["title"].upper()


def visible_columns(conn: psycopg.Connection, table: str) -> list[str]:
    """The columns ``SELECT *`` gives a session, but the legacy columns retained aside
    (``_compat_…``), which the new colour's base tables carry during a rollout. Never
    prepared: a prepared ``SELECT *`` fails once DDL changes its columns."""
    cursor = conn.execute(f"SELECT * FROM {table} LIMIT 0", prepare=False)
    return [c.name for c in cursor.description if not c.name.startswith(naming.OBJECT_PREFIX)]


class Reader(threading.Thread):
    """One colour's read traffic on the standby: whole tables, again and again.

    An error is recorded and the reader goes on (on a new session if the standby ended
    this one); a read of the wrong shape or a wrong row is recorded apart from errors.
    """

    def __init__(self, conninfo: str, colour: str, name: str) -> None:
        super().__init__(name=name, daemon=True)
        self.conninfo, self.colour = conninfo, colour
        self.halt = threading.Event()
        self.steps = 0
        self.errors: list[str] = []
        self.wrong: list[str] = []

    def read(self, conn: psycopg.Connection) -> None:
        """Each table's shape, then its rows by name, as an application selects them (so
        psycopg prepares the statement after a few runs, and expand must re-plan it)."""
        for table, shape in SHAPE[self.colour].items():
            names = visible_columns(conn, table)
            if names != shape:
                self.wrong.append(f"{table} read with columns {names}")
                continue
            cursor = conn.execute(f"SELECT {', '.join(shape)} FROM {table} ORDER BY id")
            for values in cursor.fetchall():
                row = dict(zip(shape, values, strict=True))
                if wrong_row(self.colour, table, row):
                    self.wrong.append(f"{table} row {row}")
        self.steps += 1

    def run(self) -> None:
        conn = None
        while not self.halt.is_set():
            try:
                if conn is None or conn.closed:
                    conn = colour_session(self.conninfo, self.colour, self.name)
                self.read(conn)
            except psycopg.Error as exc:  # every failure is a finding
                self.errors.append(f"{type(exc).__name__}: {exc}".strip())
            time.sleep(0.002)
        if conn is not None:
            conn.close()

    def finish(self) -> None:
        self.halt.set()
        self.join(timeout=30)


class Writer(ColourWriter):
    """One colour's writes on the primary: new postings, changed postings, changed accounts,
    each row written with its check (see ``wrong_row``)."""

    def __init__(self, conninfo: str, colour: str, name: str) -> None:
        super().__init__(conninfo, colour, name)
        self.base = 1_000_000 * (2 + sum(map(ord, name)))  # cents apart from other writers
        self.postings: list[int] = []

    def step(self, conn: psycopg.Connection, n: int) -> None:
        cents = self.base + n
        account = n % ACCOUNTS + 1
        if n % 3 == 0 or not self.postings:
            self.insert(conn, account, cents)
        elif n % 3 == 1:
            self.change_posting(conn, self.postings[n % len(self.postings)], cents)
        else:
            self.change_account(conn, account, cents)
        self.inserted += 1

    def insert(self, conn: psycopg.Connection, account: int, cents: int) -> None:
        if self.colour == "blue":
            statement = (
                "INSERT INTO bank_posting (account_id, memo, amount_cents) "
                "VALUES (%s, %s, %s) RETURNING id",
                [account, f"p{cents}", cents],
            )
        else:
            statement = (
                "INSERT INTO bank_posting (account_id, note, amount_cents, amount) "
                "VALUES (%s, %s, %s, %s) RETURNING id",
                [account, f"p{cents}", cents, Decimal(cents).scaleb(-2)],
            )
        self.postings.append(conn.execute(*statement).fetchone()[0])

    def change_posting(self, conn: psycopg.Connection, posting: int, cents: int) -> None:
        if self.colour == "blue":
            conn.execute(
                "UPDATE bank_posting SET amount_cents = %s, memo = %s WHERE id = %s",
                [cents, f"p{cents}", posting],
            )
        else:
            conn.execute(
                "UPDATE bank_posting SET amount_cents = %s, note = %s, amount = %s WHERE id = %s",
                [cents, f"p{cents}", Decimal(cents).scaleb(-2), posting],
            )

    def change_account(self, conn: psycopg.Connection, account: int, cents: int) -> None:
        if self.colour == "blue":
            conn.execute(
                "UPDATE bank_account SET balance = %s, name = %s WHERE id = %s",
                [cents, f"acct-{cents}", account],
            )
        else:
            conn.execute(
                "UPDATE bank_account SET balance = %s, title = %s, code = %s WHERE id = %s",
                [Decimal(cents).scaleb(-2), f"acct-{cents}", f"ACCT-{cents}", account],
            )


class Traffic:
    """Every reader and writer of one test, started and stopped by colour."""

    def __init__(self, primary: str, standby: str) -> None:
        self.primary, self.standby = primary, standby
        self.readers: dict[str, list[Reader]] = {"blue": [], "green": []}
        self.writers: dict[str, list[Writer]] = {"blue": [], "green": []}
        self.retired: list[Reader | Writer] = []

    def start(self, colour: str, readers: bool = True) -> None:
        """Two writers of the colour on the primary, and (unless told not to) two readers
        of it on the standby."""
        writers = [Writer(self.primary, colour, f"{colour}-writer{i}") for i in range(2)]
        self.writers[colour] += writers
        started: list[Reader | Writer] = [*writers]
        if readers:
            new = [Reader(self.standby, colour, f"{colour}-reader{i}") for i in range(2)]
            self.readers[colour] += new
            started += new
        for worker in started:
            worker.start()
        progress(started)

    def stop_writers(self, colour: str) -> None:
        for writer in self.writers[colour]:
            writer.finish()
        self.retired += self.writers[colour]
        self.writers[colour] = []

    def stop(self, colour: str) -> None:
        self.stop_writers(colour)
        for reader in self.readers[colour]:
            reader.finish()
        self.retired += self.readers[colour]
        self.readers[colour] = []

    def running(self) -> list[Reader | Writer]:
        return [w for group in (self.readers, self.writers) for ws in group.values() for w in ws]

    def findings(self) -> dict[str, list[str]]:
        everyone = self.retired + self.running()
        return {
            "errors": [f"{w.name}: {e}" for w in everyone for e in w.errors],
            "wrong": [f"{w.name}: {e}" for w in everyone if isinstance(w, Reader) for e in w.wrong],
        }


def progress(workers: list[Reader | Writer], steps: int = STEPS) -> None:
    """Wait until every worker has made ``steps`` more reads or writes (or failed)."""

    def done(worker: Reader | Writer) -> int:
        return worker.steps if isinstance(worker, Reader) else worker.inserted

    targets = [(worker, done(worker) + steps) for worker in workers]
    deadline = time.monotonic() + PROGRESS_DEADLINE
    while any(done(w) < target and not w.errors for w, target in targets):
        assert time.monotonic() < deadline, "a reader or writer stopped making progress"
        time.sleep(0.01)


def snapshot(conninfo: str, colour: str) -> dict[str, tuple[list[str], list[tuple]]]:
    """Each table as a session of the colour reads it: column names and every row."""
    with colour_session(conninfo, colour, "snapshot") as conn:
        tables = {}
        for table in LEGACY:
            cursor = conn.execute(f"SELECT * FROM {table} ORDER BY id")
            tables[table] = ([column.name for column in cursor.description], cursor.fetchall())
        return tables


def assert_standby_matches(standby, conninfo: str, db: str) -> None:
    """Once replayed, the standby reads exactly as the primary does, in both colours."""
    standby.wait_replayed()
    for colour in SHAPE:
        assert snapshot(standby.conninfo(db), colour) == snapshot(conninfo, colour)


@pytest.fixture
def traffic(pg_standby, db, conninfo):
    """Release 1 of the bank app with seeded rows, already on the standby, and blue's
    readers (standby) and writers (primary) at work; stops whatever is left at the end."""
    migrate("bank", "0001")
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO bank_account (name, balance) SELECT 'acct-' || g, g "
            "FROM generate_series(1, %s) g",
            [ACCOUNTS],
        )
        conn.execute(
            "INSERT INTO bank_posting (account_id, memo, amount_cents) "
            "SELECT g %% %s + 1, 'p' || g, g FROM generate_series(1, %s) g",
            [ACCOUNTS, SEED],
        )
        pg_standby.wait_replayed(conn)
    traffic = Traffic(conninfo, pg_standby.conninfo(db))
    traffic.start("blue")
    try:
        yield traffic
    finally:
        for colour in SHAPE:
            traffic.stop(colour)


def expand(traffic: Traffic, standby) -> None:
    """Release 2's migrate under blue's traffic, then green deployed with readers on the
    standby only once the standby has replayed it: before that, green's columns do not
    exist there (the README's "Reads on a hot standby")."""
    with override_settings(COMPAT_VIEWS_BACKFILL_BATCH_SIZE=300):
        migrate("bank", "0002")
    assert rows("SELECT count(*) FROM bank_posting WHERE amount IS NULL") == [(0,)]
    standby.wait_replayed()
    traffic.start("green")
    progress(traffic.running())


def expand_and_compare(traffic, standby, conninfo: str, db: str) -> None:
    """Expand with both colours' traffic, then pause the writers: once replayed, the
    standby reads exactly as the primary mid-rollout."""
    expand(traffic, standby)
    for colour in SHAPE:
        traffic.stop_writers(colour)
    assert_standby_matches(standby, conninfo, db)


def test_both_colours_read_the_standby_through_expand_and_complete(
    traffic, pg_standby, conninfo, db
):
    expand_and_compare(traffic, pg_standby, conninfo, db)

    traffic.start("green", readers=False)  # green goes on writing through complete
    traffic.stop("blue")  # blue is retired, on the primary and on every replica
    with colour_session(pg_standby.conninfo(db), "blue", "forgotten") as forgotten:
        compat("complete")  # the primary cannot see a session on a standby
        progress(traffic.running())
        traffic.stop_writers("green")
        pg_standby.wait_replayed()
        with pytest.raises(psycopg.errors.UndefinedColumn):
            forgotten.execute("SELECT memo FROM bank_posting")
    assert leftovers() == {}
    assert_standby_matches(pg_standby, conninfo, db)
    traffic.stop("green")
    assert traffic.findings() == {"errors": [], "wrong": []}


def test_both_colours_read_the_standby_through_expand_and_rollback(
    traffic, pg_standby, conninfo, db
):
    expand_and_compare(traffic, pg_standby, conninfo, db)

    traffic.start("blue", readers=False)  # blue goes on writing through rollback
    traffic.stop("green")  # the new release is withdrawn, its replica reads too
    compat("rollback")
    progress(traffic.running())
    traffic.stop_writers("blue")
    assert leftovers() == {}
    assert_standby_matches(pg_standby, conninfo, db)
    traffic.stop("blue")
    assert traffic.findings() == {"errors": [], "wrong": []}


@pytest.fixture
def impatient_standby(pg_server, pg_standby):
    """A second standby that waits only 100 ms for a read in the way of replay (the
    default, ``max_standby_streaming_delay = 30s``, would make the test wait 30 s)."""
    with streaming_standby(pg_server, max_standby_streaming_delay="100ms") as standby:
        yield standby


def test_a_replica_read_in_the_way_of_the_expand_is_ended_and_its_retry_reads_the_view(
    impatient_standby, db
):
    """A read on a standby that holds its table past ``max_standby_streaming_delay`` while
    the expand's DDL replays is ended with SQLSTATE 40001, as Postgres ends any read that
    holds up replay; the same read again, on a new session, sees the legacy view."""
    migrate("bank", "0001")
    rows("INSERT INTO bank_account (name, balance) VALUES ('acct-250', 250)")
    impatient_standby.wait_replayed()
    with colour_session(impatient_standby.conninfo(db), "blue", "report") as report:
        with pytest.raises(psycopg.errors.SerializationFailure, match="conflict with recovery"):
            with report.transaction():
                report.execute("SELECT name FROM bank_account").fetchall()
                migrate("bank", "0002")
                impatient_standby.wait_replayed()  # only once the report is out of the way
                report.execute("SELECT name FROM bank_account")
    with colour_session(impatient_standby.conninfo(db), "blue", "retry") as retry:
        assert visible_columns(retry, "bank_account") == LEGACY["bank_account"]
        assert retry.execute("SELECT name, balance FROM bank_account").fetchall() == [
            ("acct-250", 250)
        ]


class ReplicaRouter:
    """What the README shows: reads from the replica, writes and migrations on the primary."""

    def db_for_read(self, model, **hints):
        return "replica"

    def db_for_write(self, model, **hints):
        return "default"

    def allow_migrate(self, db, app_label, **hints):
        return db == "default"


@pytest.fixture
def replica(pg_standby, db):
    """A ``replica`` alias on the standby with no colour of its own: it takes the
    process's colour from ``COMPAT_VIEWS_COLOUR``, like every alias. Its reads are kept
    short, as the README's "Reads on a hot standby" advises."""
    entry = {**pg_standby.django_settings(db), "OPTIONS": {"options": REPLICA_OPTIONS}}
    databases = {**settings.DATABASES, "replica": entry}
    connections.settings["replica"] = connections.configure_settings(databases)["replica"]
    try:
        yield "replica"
    finally:
        connections["replica"].close()
        del connections["replica"]
        del connections.settings["replica"]


@pytest.mark.parametrize(
    ("colour", "release"), [("blue", "0001_initial"), ("green", "0002_release2")]
)
def test_a_router_sends_each_colours_reads_to_the_replica_in_its_shape(
    pg_standby, replica, colour, release
):
    migrate("bank", "0001")
    rows("INSERT INTO bank_account (name, balance) VALUES ('acct-250', 250)")
    migrate("bank", "0002")
    pg_standby.wait_replayed()
    account = model_at("bank", release, "account")
    with override_settings(COMPAT_VIEWS_COLOUR=colour, DATABASE_ROUTERS=[ReplicaRouter()]):
        (read,) = account.objects.all()
        with connections[replica].cursor() as cursor:
            cursor.execute(
                "SELECT current_setting('search_path'), current_setting('statement_timeout'),"
                " pg_is_in_recovery()"
            )
            path, timeout, in_recovery = cursor.fetchone()
        connections[replica].close()
    assert in_recovery is True
    assert path.startswith(f"compat_{colour}, ")
    assert timeout == "5s"
    assert wrong_row(colour, "bank_account", read.__dict__) is False
    assert read._state.db == replica
