"""The deferred rebuild as production runs it: ``migrate`` as a non-owner role, with
DML-only roles of both colours writing all the while.

Release 2 of the bank app (``bank.0002``) is a run of three compat operations on the
accounts (rename, add with ``up``, alter with ``up`` / ``down``) and a run of two on
their postings, which reference the accounts. Applied by a real ``Migration``, only
the last operation of each run rebuilds its table's legacy view and sync trigger
(``operations.base.rebuilt_later``), a path ``apply_operations`` never takes. Each
table's view and trigger must come out once and whole, every row either colour wrote
must read back exactly in both shapes through rollback, expand again and complete, and
no role may hold anything it did not hold before. The same holds with the runs broken
up; and a run is one table's, even where state-only renames give its model's name to
another table.
"""

from __future__ import annotations

import re
from collections import Counter
from decimal import Decimal

import psycopg
import pytest
from django.db import connections
from psycopg.conninfo import make_conninfo

from compat_views import status
from compat_views.operations.base import Ahead, rebuilt_later
from tests.harness import ColourWriter, compat, leftovers, migrate, rows
from tests.test_lock_order import progress, stop
from tests.test_privileges import (
    BLUE,
    COLUMN_PRIVILEGES,
    GREEN,
    MIGRATOR,
    OWNER,
    PASSWORD,
    REPORT,
    create_roles,
    privileges,
    session,
    use_role,
)

ROLE_OF = {"blue": BLUE, "green": GREEN}
# Each table's columns in each shape, in the order the readers below select them.
LEGACY = {
    "bank_account": ["id", "name", "balance"],
    "bank_posting": ["id", "account_id", "memo", "amount_cents"],
}
NEW = {
    "bank_account": ["id", "title", "code", "balance"],
    "bank_posting": ["id", "account_id", "note", "amount_cents", "amount"],
}
RENAMED = {"name": "title", "memo": "note"}


def units(cents: int) -> Decimal:
    return Decimal(cents).scaleb(-2)


class Book:
    """Every row as last committed, in one form both shapes are read from.

    An account is ``[name, cents, code]``, a posting ``[account, memo, cents, amount]``;
    ``None`` for ``code`` or ``amount`` means "what ``up`` gives": the legacy colour's
    write, or the backfill's.
    """

    def __init__(self) -> None:
        self.accounts: dict[int, list] = {}
        self.postings: dict[int, list] = {}

    def take(self, writers: list[BankWriter]) -> None:
        for writer in writers:
            self.accounts.update(writer.accounts)
            self.postings.update(writer.postings)

    def forget_new_values(self) -> None:
        """Rollback drops the added columns: expanded again, they are backfilled."""
        for row in self.accounts.values():
            row[2] = None
        for row in self.postings.values():
            row[3] = None

    def legacy(self) -> dict[str, list[tuple]]:
        return {
            "bank_account": [
                (i, name, cents) for i, (name, cents, _) in sorted(self.accounts.items())
            ],
            "bank_posting": [(i, *row[:3]) for i, row in sorted(self.postings.items())],
        }

    def new(self) -> dict[str, list[tuple]]:
        return {
            "bank_account": [
                (i, name, name.upper() if code is None else code, units(cents))
                for i, (name, cents, code) in sorted(self.accounts.items())
            ],
            "bank_posting": [
                (i, account, memo, cents, units(cents) if amount is None else amount)
                for i, (account, memo, cents, amount) in sorted(self.postings.items())
            ],
        }


class BankWriter(ColourWriter):
    """One colour's application as its DML-only role, in its colour's shape: opens an
    account with a first posting (one transaction), posts to its newest account, and
    changes its own accounts and postings. It touches no row it did not write, so its
    ``accounts`` and ``postings`` (``Book`` rows) say what each must read back."""

    def __init__(self, conninfo: str, colour: str, name: str) -> None:
        super().__init__(
            make_conninfo(conninfo, user=ROLE_OF[colour], password=PASSWORD), colour, name
        )
        self.accounts: dict[int, list] = {}
        self.postings: dict[int, list] = {}

    @property
    def legacy(self) -> bool:
        return self.colour == "blue"

    def step(self, conn: psycopg.Connection, n: int) -> None:
        label = f"{self.name}-{n}"
        kind = n % 4 if self.accounts else 0
        if kind == 0:
            with conn.transaction():
                self.open(conn, label, n)
                self.post(conn, label, n)
        elif kind == 1:
            self.post(conn, label, n)
        elif kind == 2:
            self.change_account(conn, label, n)
        else:
            self.change_posting(conn, label, n)
        self.inserted += 1

    def open(self, conn: psycopg.Connection, name: str, cents: int) -> None:
        if self.legacy:
            sql, params, code = "name, balance", [name, cents], None
        else:
            code = f"G{cents}"
            sql, params = "title, code, balance", [name, code, units(cents)]
        marks = ", ".join(["%s"] * len(params))
        query = f"INSERT INTO bank_account ({sql}) VALUES ({marks}) RETURNING id"
        (row_id,) = conn.execute(query, params).fetchone()
        self.accounts[row_id] = [name, cents, code]

    def post(self, conn: psycopg.Connection, memo: str, cents: int) -> None:
        account = max(self.accounts)
        if self.legacy:
            sql, params, amount = "memo, amount_cents", [memo, cents], None
        else:
            amount = units(cents * 3)  # written by the new colour, no `up` of its own
            sql, params = "note, amount_cents, amount", [memo, cents, amount]
        marks = ", ".join(["%s"] * (len(params) + 1))
        query = f"INSERT INTO bank_posting (account_id, {sql}) VALUES ({marks}) RETURNING id"
        (row_id,) = conn.execute(query, [account, *params]).fetchone()
        self.postings[row_id] = [account, memo, cents, amount]

    def change_account(self, conn: psycopg.Connection, name: str, cents: int) -> None:
        row_id = list(self.accounts)[cents % len(self.accounts)]
        column, balance = ("name", cents) if self.legacy else ("title", units(cents))
        conn.execute(
            f"UPDATE bank_account SET {column} = %s, balance = %s WHERE id = %s",
            [name, balance, row_id],
        )
        code = None if self.legacy else self.accounts[row_id][2]  # a new name, a new `up`
        self.accounts[row_id] = [name, cents, code]

    def change_posting(self, conn: psycopg.Connection, memo: str, cents: int) -> None:
        row_id = list(self.postings)[cents % len(self.postings)]
        account = self.postings[row_id][0]
        if self.legacy:
            conn.execute(
                "UPDATE bank_posting SET memo = %s, amount_cents = %s WHERE id = %s",
                [memo, cents, row_id],
            )
            self.postings[row_id] = [account, memo, cents, None]
        else:
            conn.execute(
                "UPDATE bank_posting SET note = %s, amount = %s WHERE id = %s",
                [memo, units(cents), row_id],
            )
            self.postings[row_id] = [account, memo, self.postings[row_id][2], units(cents)]


def start(conninfo: str, colour: str, phase: str) -> list[BankWriter]:
    writers = [BankWriter(conninfo, colour, f"{colour}{i}-{phase}") for i in range(2)]
    for writer in writers:
        writer.start()
    return writers


def read(conninfo: str, role: str, colour: str | None, shape: dict) -> dict[str, list[tuple]]:
    """Every row of both tables as ``role`` in ``colour`` reads them in ``shape``."""
    with session(conninfo, role, colour) as conn:
        return {
            table: conn.execute(f"SELECT {', '.join(names)} FROM {table} ORDER BY id").fetchall()
            for table, names in shape.items()
        }


def held(conninfo: str, schema: str, shape: dict) -> dict[str, set]:
    return {
        table: privileges(conninfo, f"{schema}.{table}", names) for table, names in shape.items()
    }


def in_new_shape(before: dict[str, set]) -> dict[str, set]:
    """What each role holds on the tables in their new shape, if it gained nothing: its
    column privileges under the new names, and on an added column what it holds on
    the whole table."""
    expected = {}
    for table, privileges_held in before.items():
        renamed = {(role, RENAMED.get(c, c), p) for role, c, p in privileges_held}
        added = set(NEW[table]) - {RENAMED.get(c, c) for c in LEGACY[table]}
        expected[table] = renamed | {
            (role, column, p)
            for role, c, p in privileges_held
            if c is None and p in COLUMN_PRIVILEGES
            for column in added
        }
    return expected


def use_bank_migrations(settings, module: str) -> None:
    """Release 2 of the bank app as ``module`` has it (release 1 re-exported)."""
    settings.MIGRATION_MODULES = {**settings.MIGRATION_MODULES, "bank": module}


def release1(conninfo: str, db: str) -> None:
    """Release 1 migrated by the owner role, each colour's role granted DML, a reporting
    role granted columns, and a seeded account; release 2 is migrated by another role,
    a member of the owner."""
    create_roles(conninfo, db)
    use_role("legacy", OWNER)
    migrate("bank", "0001", database="legacy")  # the legacy colour deployed release 1
    with session(conninfo, OWNER) as owner:
        owner.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON bank_account TO {BLUE}, {GREEN}")
        owner.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON bank_posting TO {BLUE}, {GREEN}")
        owner.execute(f"GRANT SELECT (id, name, balance) ON bank_account TO {REPORT}")
        owner.execute("INSERT INTO bank_account (name, balance) VALUES ('seed', 1234)")
        owner.execute(
            "INSERT INTO bank_posting (account_id, memo, amount_cents) "
            "SELECT id, 'opening', 1234 FROM bank_account"
        )
    use_role("default", MIGRATOR)


def views_created(statements: list[str]) -> Counter:
    """How many times each table's legacy view was created, from the statements run."""
    created = re.compile(r'^CREATE VIEW "compat_blue"\."(\w+)"')
    return Counter(m[1] for m in map(created.match, statements) if m)


def expand_as_production() -> list[str]:
    """``migrate bank 0002``, and every statement it ran."""
    statements: list[str] = []

    def record(execute, sql, params, many, context):
        statements.append(sql)
        return execute(sql, params, many, context)

    with connections["default"].execute_wrapper(record):
        migrate("bank", "0002")
    return statements


def assert_whole(conninfo: str) -> None:
    """Each table's view and triggers hold every operation of release 2."""
    report = status.report("default")["rollout"]
    tables = {t["table"]: t for t in report["tables"]}
    assert sorted(tables) == ["bank_account", "bank_posting"]
    for table in tables.values():
        assert (table["drift"], table["privileges"]) == ([], [])
    aside = tables["bank_account"]["mapping"]["balance"]
    assert aside.startswith("_compat_")
    assert tables["bank_account"]["mapping"] == {"id": "id", "name": "title", "balance": aside}
    assert tables["bank_posting"]["mapping"] == {
        "id": "id",
        "account_id": "account_id",
        "memo": "note",
        "amount_cents": "amount_cents",
    }
    with psycopg.connect(conninfo, autocommit=True) as su:
        on_views = su.execute(
            "SELECT c.relname, array_agg(a.attname ORDER BY a.attnum) FROM pg_attribute a "
            "JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = 'compat_blue' AND c.relkind = 'v' AND a.attnum > 0 GROUP BY 1"
        ).fetchall()
    assert dict(on_views) == LEGACY


@pytest.mark.parametrize(
    "migrations, rebuilds",
    [(None, 1), ("tests.scenarios.bank.interleaved", 2)],
    ids=["one run a table", "runs broken up"],
)
def test_each_run_rebuilds_its_table_once_as_production_roles(
    db, conninfo, settings, migrations, rebuilds
):
    """``rebuilds``: how many times ``migrate`` builds each table's view (once a run)."""
    if migrations:
        use_bank_migrations(settings, migrations)
    views = {"bank_account": rebuilds, "bank_posting": rebuilds}
    release1(conninfo, db)
    before = held(conninfo, "public", LEGACY)
    book = Book()
    book.accounts, book.postings = {1: ["seed", 1234, None]}, {1: [1, "opening", 1234, None]}

    blue = start(conninfo, "blue", "r1")
    progress(blue)
    statements = expand_as_production()  # while blue writes
    green = start(conninfo, "green", "r1")
    progress(blue + green)
    stop(blue + green)
    book.take(blue + green)
    assert [e for w in blue + green for e in w.errors] == []
    assert views_created(statements) == views
    assert_whole(conninfo)
    assert read(conninfo, BLUE, "blue", LEGACY) == book.legacy()
    assert read(conninfo, GREEN, "green", NEW) == book.new()
    on_views = held(conninfo, "compat_blue", LEGACY)
    assert all(on_views[table] <= before[table] for table in LEGACY)
    assert (BLUE, None, "INSERT") in on_views["bank_posting"]
    assert (REPORT, "balance", "SELECT") in on_views["bank_account"]

    blue_again = start(conninfo, "blue", "r2")
    progress(blue_again)
    compat("rollback")  # while blue writes
    progress(blue_again)
    stop(blue_again)
    book.take(blue_again)
    book.forget_new_values()
    assert [e for w in blue_again for e in w.errors] == []
    assert held(conninfo, "public", LEGACY) == before
    for role in (BLUE, GREEN):
        assert read(conninfo, role, None, LEGACY) == book.legacy()

    blue_last = start(conninfo, "blue", "r3")
    progress(blue_last)
    assert views_created(expand_as_production()) == views
    green_last = start(conninfo, "green", "r3")
    progress(blue_last + green_last)
    stop(blue_last)  # the legacy colour's sessions are gone before complete
    compat("complete")  # while green writes
    progress(green_last)
    stop(green_last)
    book.take(blue_last + green_last)
    assert [e for w in blue_last + green_last for e in w.errors] == []
    assert leftovers() == {}
    assert held(conninfo, "public", NEW) == in_new_shape(before)
    for role in (BLUE, GREEN):
        assert read(conninfo, role, None, NEW) == book.new()


@pytest.mark.parametrize(
    "ahead, later",
    [
        ([(0, "a", True), (1, "a", True), (2, "a", True)], {0, 1}),
        ([(0, "a", True), (1, "b", True), (2, "a", True), (3, "a", True)], {2}),
        ([(0, "a", True), (2, "a", True)], set()),  # another database operation between
        ([(0, "a", True), (1, "a", False)], set()),  # the next one leaves the database be
    ],
)
def test_only_the_next_operation_on_the_same_table_rebuilds_for_one(ahead, later):
    assert rebuilt_later([Ahead(*item) for item in ahead]) == later


def test_a_run_is_one_table_s_whatever_the_model_names(db, conninfo, settings):
    """Adjacent operations on models of one name, which state-only renames gave to two
    tables, rebuild each table: the first one's trigger computes its ``up``."""
    use_bank_migrations(settings, "tests.scenarios.bank.swapped")
    migrate("bank", "0001", database="legacy")
    assert views_created(expand_as_production()) == {"bank_account": 1, "bank_posting": 1}
    tables = status.report("default")["rollout"]["tables"]
    assert [(t["table"], t["drift"]) for t in tables] == [
        ("bank_account", []),
        ("bank_posting", []),
    ]
    options = "-c search_path=compat_blue,public"
    with psycopg.connect(conninfo, autocommit=True, options=options) as blue:
        blue.execute("INSERT INTO bank_account (name, balance) VALUES ('legacy', 1)")
    assert rows("SELECT name, code FROM bank_account") == [("legacy", "LEGACY")]
