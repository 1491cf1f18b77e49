"""Measure what AlterCompatColumn's sync trigger and backfill cost, in one run on one table shape.

The numbers an acceptance point of the project asks for, side by side:

* bulk rows/s and single-row statements/s of UPDATE and INSERT on tables of identical shape and
  data: with no trigger, with our sync trigger (installed by a real ``migrate`` of
  ``AlterCompatColumn``, measured as the new colour) and with a reference trigger written
  in the style pgroll uses (one DECLAREd variable per column assigned from NEW, a
  ``current_setting('search_path')`` string comparison, no WHEN clause). Two UPDATEs: one
  of a column no sync step reads, one of the synced column (ours then computes ``down``),
  and an INSERT of new-shape orders (``down`` again).
  The table is an order as a Django model makes it (a foreign key and two indexed columns
  besides the key); the bulk UPDATE is also run on copies that keep only the primary key,
  the worst case for any row trigger. Two diagnostic triggers (only ``RETURN NEW``; only
  setting one column of NEW to a constant) and the time EXPLAIN ANALYZE reports inside the
  triggers show where the per-row cost goes: PostgreSQL locks each row before a BEFORE
  UPDATE row trigger fires, then enters plpgsql, then forms a new tuple if NEW changed,
  and no sync trigger can skip the last two;
* the library's batched backfill of ``--rows`` rows against one plain
  ``UPDATE … SET new = up(old)`` on an identical table with the plain column added;
* the latency of concurrent single-row writers of both colours during that backfill.

Method. Statements are timed on their backend's CPU (``BackendClock``, where the server
is local), which time spent waiting for a core on a shared machine does not inflate.
Bulk writes: before every run the table is VACUUMed, and the statement runs in a
transaction that is rolled back, so every run and every table starts from the same rows.
Per statement, one untimed EXPLAIN ANALYZE run per table (warm-up, correctness check,
time inside the triggers), then ``--repeat`` rounds in which the tables take turns, each
round starting one table further along; the ratio to no trigger is the median of each
round's own ratio. Many short rounds beat a few long ones on a shared machine, whose
speed drifts over seconds. Single-row writes: ``--single`` prepared autocommit
statements per table and run (the same random keys for every table), the tables taking
turns every few hundred statements. Backfill: every
measurement gets its own copy of one release-1 template database (``CREATE DATABASE …
TEMPLATE``), so each starts from the same settled table; autovacuum is off on the bench
tables so it cannot land on one run and not another. The writers are paced
(``--writer-rate``), as an application's connections are, and released by the first
batch statement; the backfill is timed from that statement's start to the last one's end.

Only correctness is asserted (``down`` really ran for the new colour's UPDATEs, the
backfill left ``new = up(legacy)`` on every row and rewrote no legacy value, the writers'
rows stay in sync); timings get a verdict per target but are never asserted, because
machines are noisy. A failed check exits with status 1.

Run from the repository root: ``python bench/sync_cost.py [--rows 1000000]
[--bulk-rows 50000] [--single 2000] [--repeat 9] [--second-batch 20000] [--json PATH]``.
"""

from __future__ import annotations

import argparse
import io
import math
import random
import statistics
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, redirect_stdout
from dataclasses import dataclass, field
from decimal import Decimal
from importlib import import_module
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psycopg
from django.core.management import call_command
from django.db import connections
from django.test import override_settings

if TYPE_CHECKING:
    from compat_views.operations import AlterCompatColumn
    from compat_views.testing.postgres import Server

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # this checkout, not an install
from bench.common import (  # noqa: E402
    LEGACY_COLOUR,
    NEW_COLOUR,
    BackendClock,
    BenchFailed,
    Chart,
    Results,
    Table,
    Target,
    database,
    expect,
    json_option,
    run_bench,
)
from compat_views.naming import legacy_schema  # noqa: E402
from compat_views.sql import ident, literal  # noqa: E402

APP = "syncapp"
MODEL = "Order"
TABLE = "syncapp_order"
CUSTOMER_TABLE = "syncapp_customer"
COLUMN = "amount"  # integer cents in release 1, numeric(12, 2) in release 2
KEY = "id"
BEFORE, ALTER = "0001", "0002"
ALTER_MODULE = f"bench.{APP}.migrations.0002_alter_amount"
# Each bench database is created fresh here, so its tables live in the default schema.
BASE_SCHEMA = "public"
LEGACY_SCHEMA = legacy_schema(LEGACY_COLOUR)
# How a legacy session outside Django joins its colour (README: "Joining a colour").
LEGACY_OPTIONS = f"-c search_path={LEGACY_SCHEMA},{BASE_SCHEMA}"
PLAIN_NEW_COLUMN = "amount_new"
SEED = 20_240_601
DEFAULT_BATCH = 5_000  # COMPAT_VIEWS_BACKFILL_BATCH_SIZE's default

TARGET_BULK_RATIO = 1.3
TARGET_BACKFILL_SHARE = 0.7
TARGET_WRITER_P99_MS = 20.0
WRITES = {LEGACY_COLOUR: "via the view, up", NEW_COLOUR: "base table, down"}

CUSTOMERS = 5_000
_FILL_CUSTOMERS = f"""
INSERT INTO {CUSTOMER_TABLE} (name)
SELECT 'customer ' || g FROM pg_catalog.generate_series(1, {CUSTOMERS}) AS g ORDER BY g
"""
_FILL = f"""
INSERT INTO {TABLE}
    (customer_id, status, created_at, updated_at, currency, {COLUMN}, qty, note)
SELECT g %% {CUSTOMERS} + 1, (ARRAY['new', 'paid', 'shipped'])[g %% 3 + 1],
       timestamptz '2024-06-01' + g * interval '1 minute',
       timestamptz '2024-06-01' + g * interval '1 minute', 'EUR',
       (g::bigint * 7919) %% 1000000, g %% 10, 'order note ' || md5(g::text)
FROM pg_catalog.generate_series(1, %s) AS g ORDER BY g
"""


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def percentile(values: Sequence[float], share: float) -> float:
    """Nearest-rank percentile: a value some statement really took, never an interpolation."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


# Set-up: server, Django, databases -------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    def at_least(minimum: int) -> Callable[[str], int]:
        def parse(text: str) -> int:
            if int(text) < minimum:
                raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {text}")
            return int(text)

        return parse

    positive, not_negative = at_least(1), at_least(0)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=positive, default=1_000_000, help="backfill table rows")
    parser.add_argument("--bulk-rows", type=positive, default=50_000, help="bulk UPDATE rows")
    parser.add_argument("--single", type=positive, default=2_000, help="single-row UPDATEs a run")
    parser.add_argument("--repeat", type=positive, default=9, help="timed rounds")
    parser.add_argument(
        "--second-batch",
        type=not_negative,
        default=0,
        help="also time the backfill with this batch size, e.g. 20000 (default: skip)",
    )
    parser.add_argument(
        "--writer-rate",
        type=not_negative,
        default=200,
        help="statements/s of the concurrent writer, like an application's (0: flat out)",
    )
    json_option(parser)
    return parser.parse_args(argv)


def alter_operation() -> AlterCompatColumn:
    """The migration's own operation, so ``up``/``down`` are written down in one place."""
    (operation,) = import_module(ALTER_MODULE).Migration.operations
    return operation


def connect(server: Server, dbname: str, options: str | None = None) -> psycopg.Connection:
    """An autocommit session outside Django; without ``options`` it has no colour (new shape)."""
    extra = {"options": options} if options else {}
    return psycopg.connect(server.conninfo(dbname), autocommit=True, **extra)


def release1(server: Server, dbname: str, rows: int) -> None:
    """Release 1 with ``rows`` orders, vacuumed and analysed like a settled production table."""
    call_command("migrate", "compat_views", verbosity=0)
    call_command("migrate", APP, BEFORE, verbosity=0)
    connections["default"].close()
    started = time.perf_counter()
    with connect(server, dbname) as conn:
        conn.execute(_FILL_CUSTOMERS)
        conn.execute(_FILL, [rows])
        for table in (CUSTOMER_TABLE, TABLE):
            conn.execute(
                f"ALTER TABLE {ident(BASE_SCHEMA, table)} SET (autovacuum_enabled = false)"
            )
            conn.execute(f"VACUUM ANALYZE {ident(BASE_SCHEMA, table)}")
        (count, top) = conn.execute(f"SELECT count(*), max({KEY}) FROM {TABLE}").fetchone()
    expect(count == rows == top, f"filled {count} rows (max id {top}) into {TABLE}, not {rows}")
    print(f"  filled {rows:,} rows in {time.perf_counter() - started:.1f} s", flush=True)


def expand() -> None:
    """Apply AlterCompatColumn as the new colour; the backfill runs after the DDL commits."""
    with redirect_stdout(io.StringIO()):  # the backfill's progress lines
        call_command("migrate", APP, ALTER, verbosity=0)


# The table after expand ------------------------------------------------------------------


@dataclass(frozen=True)
class Shape:
    """Which physical column serves each name, for each colour, after expand."""

    legacy: dict[str, str]  # legacy name -> physical column, in the legacy column order
    new: list[str]  # new-shape names, which are the physical columns

    @property
    def aside(self) -> str:
        """Where the legacy integer cents went: the column ``down`` writes."""
        return self.legacy[COLUMN]


def read_shape() -> Shape:
    """From the rollout state and the release-2 model, as the library itself sees them."""
    from django.apps import apps

    from compat_views.models import TouchedTable

    touched = TouchedTable.objects.get(rollout__status="pending", table=TABLE)
    legacy = {name: touched.mapping[name] for name in touched.legacy_columns}
    new = [each.column for each in apps.get_model(APP, MODEL)._meta.concrete_fields]
    expect(
        legacy[COLUMN] != COLUMN and COLUMN in new,
        f"after expand {TABLE} maps {COLUMN!r} to {legacy[COLUMN]!r}: expected an aside column",
    )
    return Shape(legacy, new)


def legacy_scope(shape: Shape) -> str:
    """A SELECT list that exposes a base-table row under the legacy names, so ``up`` reads it."""
    return ", ".join(
        f"{ident(physical)} AS {ident(name)}" for name, physical in shape.legacy.items()
    )


def count_up_mismatches(conn: psycopg.Connection, shape: Shape, up: str) -> int:
    """Rows whose new column is not ``up`` of their legacy values (NULL counts as wrong)."""
    scope = f"{legacy_scope(shape)}, {ident(COLUMN)} AS _bench_new"
    return conn.execute(
        f"SELECT count(*) FROM (SELECT {scope} FROM {ident(BASE_SCHEMA, TABLE)}) AS legacy "
        f"WHERE _bench_new IS DISTINCT FROM ({up})"
    ).fetchone()[0]


def count_down_mismatches(conn: psycopg.Connection, table: str, shape: Shape, down: str) -> int:
    """Rows whose legacy column is not ``down`` of their new values.

    ``down`` is over the new shape's names, which are the base table's own columns.
    """
    return conn.execute(
        f"SELECT count(*) FROM {ident(BASE_SCHEMA, table)} "
        f"WHERE {ident(shape.aside)} IS DISTINCT FROM ({down})"
    ).fetchone()[0]


# Triggers compared with ours -------------------------------------------------------------


def _declare(table: str, names: dict[str, str]) -> str:
    """One variable per column, typed like it and assigned from NEW: the pgroll style."""
    return " ".join(
        f"{ident(name)} {ident(BASE_SCHEMA, table, physical)}%TYPE := NEW.{ident(physical)};"
        for name, physical in names.items()
    )


def reference_body(table: str, shape: Shape, up: str, down: str) -> str:
    """The reference: the direction from a search_path string, the columns DECLAREd.

    Written from the description of pgroll's triggers, not from its code: the session's
    ``search_path`` setting compared with the legacy colour's as a string (the form
    ``SET search_path = compat_blue, public`` leaves; ``-c search_path=compat_blue,public``
    leaves another, which is why ours reads ``current_schemas`` instead), then, in the
    chosen direction, every column of that shape copied from NEW into a variable of its
    name so that the expression can read it. No WHEN clause: it runs for every row.
    """
    legacy_path = literal(f"{LEGACY_SCHEMA}, {BASE_SCHEMA}")
    return (
        "DECLARE search_path text; BEGIN "
        "search_path := current_setting('search_path'); "
        f"IF search_path = {legacy_path} THEN "
        f"DECLARE {_declare(table, shape.legacy)} "
        f"BEGIN NEW.{ident(COLUMN)} := ({up}); END; "
        f"ELSE DECLARE {_declare(table, {name: name for name in shape.new})} "
        f"BEGIN NEW.{ident(shape.aside)} := ({down}); END; "
        "END IF; RETURN NEW; END;"
    )


def noop_body(table: str, shape: Shape, up: str, down: str) -> str:
    """A floor: what entering a plpgsql row trigger costs when it does nothing."""
    return "BEGIN RETURN NEW; END;"


def constant_body(table: str, shape: Shape, up: str, down: str) -> str:
    """The floor of a sync trigger: changing one column of NEW, to a constant."""
    return f"BEGIN NEW.{ident(shape.aside)} := 0; RETURN NEW; END;"


def install_trigger(conn: psycopg.Connection, table: str, body: str) -> None:
    """A BEFORE INSERT OR UPDATE row trigger without WHEN, like every comparison trigger."""
    function = ident(BASE_SCHEMA, f"{table}_sync")
    conn.execute(
        f"CREATE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql AS $bench$ {body} $bench$"
    )
    conn.execute(
        f"CREATE TRIGGER {ident(f'{table}_sync')} BEFORE INSERT OR UPDATE "
        f"ON {ident(BASE_SCHEMA, table)} FOR EACH ROW EXECUTE FUNCTION {function}()"
    )


def copy_ours(conn: psycopg.Connection, table: str) -> None:
    """Our triggers, as ``migrate`` made them on the real table, onto a copy of it.

    They execute the same functions, whose column types name the real table: the copy
    has the same columns, so they work there unchanged.
    """
    definitions = conn.execute(
        "SELECT pg_catalog.pg_get_triggerdef(oid) FROM pg_catalog.pg_trigger "
        "WHERE tgrelid = %s::regclass AND NOT tgisinternal",
        [f"{BASE_SCHEMA}.{TABLE}"],
    ).fetchall()
    on = f" ON {BASE_SCHEMA}.{TABLE} "
    for (definition,) in definitions:
        expect(on in definition, f"unexpected trigger definition: {definition}")
        conn.execute(definition.replace(on, f" ON {ident(BASE_SCHEMA, table)} ", 1))


def drop_secondary_indexes(conn: psycopg.Connection, table: str) -> None:
    indexes = conn.execute(
        "SELECT indexrelid::regclass::text FROM pg_catalog.pg_index "
        "WHERE indrelid = %s::regclass AND NOT indisprimary",
        [f"{BASE_SCHEMA}.{table}"],
    ).fetchall()
    expect(bool(indexes), f"{table} has no secondary index to drop")
    for (index,) in indexes:
        conn.execute(f"DROP INDEX {index}")


OURS = "ours"  # a Subject's body: the triggers migrate installed, not a comparison trigger


@dataclass(frozen=True)
class Subject:
    """One table of the trigger comparison and the trigger it carries."""

    key: str
    label: str
    table: str
    body: Callable[[str, Shape, str, str], str] | str | None  # OURS, or None: no trigger
    syncs: bool  # whether an UPDATE of the new column must also have run ``down``
    diagnostic: bool = False  # only in the bulk comparison, where per-row costs show
    bare: bool = False  # a copy with no secondary index: the worst case for any row trigger

    @property
    def baseline(self) -> str:
        """The no-trigger table of the same shape, which this one's times are divided by."""
        return "bare_none" if self.bare else "none"


SUBJECTS = (
    Subject("none", "no trigger", "bench_plain", None, syncs=False),
    Subject("ours", "ours (compat_views)", TABLE, OURS, syncs=True),
    Subject("reference", "reference (pgroll style)", "bench_reference", reference_body, True),
    Subject("noop", "diag: RETURN NEW only", "bench_noop", noop_body, False, diagnostic=True),
    Subject("constant", "diag: sets a constant", "bench_constant", constant_body, False, True),
    Subject("bare_none", "no trigger", "bench_bare_plain", None, False, True, bare=True),
    Subject("bare_ours", "ours (compat_views)", "bench_bare_ours", OURS, True, True, bare=True),
    Subject("bare_noop", "diag: RETURN NEW only", "bench_bare_noop", noop_body, False, True, True),
    Subject(
        "bare_constant",
        "diag: sets a constant",
        "bench_bare_constant",
        constant_body,
        False,
        True,
        True,
    ),
)
MEASURED = tuple(subject for subject in SUBJECTS if not subject.diagnostic)


def subject_named(key: str) -> Subject:
    return next(subject for subject in SUBJECTS if subject.key == key)


# What a new order holds, per new-shape column: ``g`` numbers the row.
_NEW_ROW = {
    "customer_id": f"g %% {CUSTOMERS} + 1",
    "status": "'new'",
    "created_at": "pg_catalog.now()",
    "updated_at": "pg_catalog.now()",
    "currency": "'EUR'",
    COLUMN: "(g %% 100000) / 100.0",
    "qty": "1",
    "note": "'a new order'",
}
BULK_ROWS = "pg_catalog.generate_series(1, %s) AS g"  # %s: how many rows
ONE_ROW = "(SELECT %s::integer AS g) AS one"  # %s: which row


@dataclass(frozen=True)
class Variant:
    """One write the tables are compared on: an UPDATE (its SET list), or an INSERT."""

    key: str
    label: str
    why: str
    assignment: str | None = None  # None: an INSERT of new orders

    @property
    def synced(self) -> bool:
        """Whether it writes the synced column, so that ours must run ``down``."""
        return self.assignment is None or self.assignment.startswith(COLUMN)

    def insert(self, table: str, shape: Shape, rows: str) -> str:
        """New orders in the new shape, the aside column given too: with no trigger it is
        NOT NULL and has no default, and a sync trigger overwrites it with ``down``."""
        new = [name for name in shape.new if name != KEY]
        expect(set(new) == set(_NEW_ROW), f"{TABLE} has columns {new}, the bench fills others")
        columns = ", ".join(ident(name) for name in [*new, shape.aside])
        values = ", ".join([*(_NEW_ROW[name] for name in new), "0"])
        return f"INSERT INTO {table} ({columns}) SELECT {values} FROM {rows}"

    def bulk(self, table: str, shape: Shape, rows: int) -> tuple[str, list[int] | None]:
        if self.assignment:
            return f"UPDATE {table} SET {self.assignment}", None
        return self.insert(table, shape, BULK_ROWS), [rows]

    def single(self, table: str, shape: Shape) -> str:
        """One row's statement; its one parameter is a key (of the row, or to number it)."""
        if self.assignment:
            return f"UPDATE {table} SET {self.assignment} WHERE {ident(KEY)} = %s"
        return self.insert(table, shape, ONE_ROW)


VARIANTS = (
    Variant("qty", "UPDATE qty", "a column no sync step reads", "qty = qty + 1"),
    Variant(
        COLUMN,
        f"UPDATE {COLUMN}",
        "the synced column: ours runs down",
        f"{COLUMN} = {COLUMN} + 1",
    ),
    Variant("insert", "INSERT", "new orders in the new shape: ours runs down"),
)
UPDATES = tuple(variant for variant in VARIANTS if variant.assignment)


def build_subjects(conn: psycopg.Connection, shape: Shape, up: str, down: str) -> None:
    """Copy ours into identical tables and give each its trigger.

    The copies take the expanded table's exact columns (aside column included), indexes,
    foreign key and rows; a bare copy then loses every index but the primary key's.
    VACUUM FULL gives every table, ours too, the same compact physical layout.
    """
    source = ident(BASE_SCHEMA, TABLE)
    foreign_keys = conn.execute(
        "SELECT pg_catalog.pg_get_constraintdef(oid) FROM pg_catalog.pg_constraint "
        "WHERE conrelid = %s::regclass AND contype = 'f'",
        [f"{BASE_SCHEMA}.{TABLE}"],
    ).fetchall()
    for subject in SUBJECTS:
        table = ident(BASE_SCHEMA, subject.table)
        if subject.table != TABLE:
            conn.execute(
                f"CREATE TABLE {table} (LIKE {source} INCLUDING ALL) "
                "WITH (autovacuum_enabled = false)"
            )
            conn.execute(f"INSERT INTO {table} SELECT * FROM {source} ORDER BY {KEY}")
            conn.execute(  # the copied rows brought their keys: new rows follow them
                "SELECT pg_catalog.setval(pg_catalog.pg_get_serial_sequence(%s, %s), "
                f"(SELECT max({ident(KEY)}) FROM {table}))",
                [f"{BASE_SCHEMA}.{subject.table}", KEY],
            )
            if subject.bare:
                drop_secondary_indexes(conn, subject.table)
            else:
                for (definition,) in foreign_keys:
                    conn.execute(f"ALTER TABLE {table} ADD {definition}")
        if subject.body == OURS:
            if subject.table != TABLE:
                copy_ours(conn, subject.table)
        elif subject.body is not None:
            install_trigger(conn, subject.table, subject.body(subject.table, shape, up, down))
    for subject in SUBJECTS:
        conn.execute(f"VACUUM FULL {ident(BASE_SCHEMA, subject.table)}")
        conn.execute(f"VACUUM ANALYZE {ident(BASE_SCHEMA, subject.table)}")
    sizes = {
        subject.table: conn.execute(
            "SELECT pg_catalog.pg_table_size(%s::regclass)", [f"{BASE_SCHEMA}.{subject.table}"]
        ).fetchone()[0]
        for subject in SUBJECTS
    }
    expect(len(set(sizes.values())) == 1, f"the compared tables differ in size: {sizes}")
    for subject in SUBJECTS:
        if subject.body == OURS:
            triggers = conn.execute(
                "SELECT count(*) FROM pg_catalog.pg_trigger WHERE tgrelid = %s::regclass "
                "AND NOT tgisinternal",
                [f"{BASE_SCHEMA}.{subject.table}"],
            ).fetchone()[0]
            expect(
                triggers == 7,
                f"{subject.table} has {triggers} triggers, expected ours: "
                "INSERT and UPDATE, up and down, and the guard's three",
            )
    print(
        f"  {len(SUBJECTS)} tables of {next(iter(sizes.values())) / 2**20:.1f} MB each: "
        + ", ".join(s.table for s in SUBJECTS),
        flush=True,
    )


# Bulk and single-row UPDATE --------------------------------------------------------------


Timings = dict[tuple[str, str], list[float]]  # (subject, variant) -> seconds per run


def check_update(
    conn: psycopg.Connection, subject: Subject, variant: Variant, shape: Shape, down: str
) -> None:
    """After a write of the new column, the legacy column must hold ``down`` of it."""
    if subject.syncs and variant.synced:
        wrong = count_down_mismatches(conn, subject.table, shape, down)
        expect(
            wrong == 0,
            f"{subject.label}: after {variant.label}, {wrong} rows of "
            f"{subject.table} have {shape.aside} different from {down}: down did not run",
        )


@contextmanager
def rolled_back(conn: psycopg.Connection, subject: Subject) -> Iterator[str]:
    """A freshly VACUUMed table and a transaction that is rolled back, so every run is equal."""
    table = ident(BASE_SCHEMA, subject.table)
    conn.execute(f"VACUUM {table}")
    with conn.transaction(force_rollback=True):
        yield table


def bulk_once(
    conn: psycopg.Connection,
    clock: BackendClock,
    subject: Subject,
    variant: Variant,
    shape: Shape,
    rows: int,
) -> float:
    """Seconds for one whole-table UPDATE, or an INSERT of as many rows."""
    with rolled_back(conn, subject) as table:
        statement, params = variant.bulk(table, shape, rows)
        started = clock()
        cursor = conn.execute(statement, params)
        elapsed = clock() - started
        expect(cursor.rowcount == rows, f"{subject.table}: wrote {cursor.rowcount}, not {rows}")
    return elapsed


def trigger_time(
    conn: psycopg.Connection, subject: Subject, variant: Variant, shape: Shape, down: str, rows: int
) -> float:
    """Microseconds a row spent in the table's triggers, from one EXPLAIN ANALYZE of the UPDATE.

    The untimed run of each table and variant: it warms the table up, checks the trigger
    did its work, and splits the per-row cost into the trigger's share (a WHEN clause that
    is false never calls the trigger, so it counts as zero) and everything else.
    """
    with rolled_back(conn, subject) as table:
        statement, params = variant.bulk(table, shape, rows)
        ((plan,),) = conn.execute(f"EXPLAIN (ANALYZE, FORMAT JSON) {statement}", params).fetchone()
        check_update(conn, subject, variant, shape, down)
    return sum(trigger["Time"] for trigger in plan.get("Triggers", [])) * 1000 / rows


def rotated(items: Sequence[Any], turn: int) -> list[Any]:
    """The order of a round: each round starts one further along, so no table always goes
    first (right after a VACUUM of another) or last."""
    shift = turn % len(items)
    return [*items[shift:], *items[:shift]]


SINGLE_CHUNK = 250  # statements one table gets before the next table's turn


def single_run(
    conn: psycopg.Connection,
    clock: BackendClock,
    variant: Variant,
    shape: Shape,
    keys: Sequence[int],
) -> dict[str, float]:
    """Seconds each measured table took for ``len(keys)`` autocommit statements, one row each.

    The tables take turns every few hundred statements (in a rotating order), so a burst
    of load from elsewhere on the machine lands on all of them alike.
    """
    for subject in MEASURED:
        conn.execute(f"VACUUM {ident(BASE_SCHEMA, subject.table)}")
    statements = {
        subject.key: variant.single(ident(BASE_SCHEMA, subject.table), shape)
        for subject in MEASURED
    }
    seconds = dict.fromkeys(statements, 0.0)
    for turn, start in enumerate(range(0, len(keys), SINGLE_CHUNK)):
        chunk = keys[start : start + SINGLE_CHUNK]
        for key in rotated(list(statements), turn):
            started = clock()
            for value in chunk:
                conn.execute(statements[key], [value], prepare=True)
            seconds[key] += clock() - started
    return seconds


@dataclass(frozen=True)
class TriggerResults:
    bulk: Timings
    single: Timings
    inside: dict[tuple[str, str], float]  # µs per row spent in triggers, bulk UPDATE
    clock: str  # what the timings measure: the backend's CPU time, or wall time


def measure_triggers(
    server: Server, args: argparse.Namespace, up: str, down: str
) -> TriggerResults:
    """Bulk, then single-row timings of every subject and variant, tables interleaved."""
    print(f"trigger comparison on {args.bulk_rows:,} rows:", flush=True)
    bulk: Timings = {}
    single: Timings = {}
    inside: dict[tuple[str, str], float] = {}  # µs per row in triggers
    with database(server, "triggers") as dbname:
        release1(server, dbname, args.bulk_rows)
        expand()
        shape = read_shape()
        connections["default"].close()
        with connect(server, dbname) as conn:
            wrong = count_up_mismatches(conn, shape, up)
            expect(wrong == 0, f"after the backfill {wrong} rows of {TABLE} lack up({COLUMN})")
            build_subjects(conn, shape, up, down)
            clock = BackendClock(conn)
            started = time.perf_counter()
            for variant in VARIANTS:
                for subject in SUBJECTS:
                    inside[subject.key, variant.key] = trigger_time(
                        conn, subject, variant, shape, down, args.bulk_rows
                    )
                for round_ in range(args.repeat):
                    for subject in rotated(SUBJECTS, round_):
                        seconds = bulk_once(conn, clock, subject, variant, shape, args.bulk_rows)
                        bulk.setdefault((subject.key, variant.key), []).append(seconds)
            print(f"  bulk writes done in {time.perf_counter() - started:.1f} s", flush=True)
            started = time.perf_counter()
            keys = random.Random(SEED).choices(range(1, args.bulk_rows + 1), k=args.single)
            for variant in VARIANTS:
                for _ in range(args.repeat):
                    for key, seconds in single_run(conn, clock, variant, shape, keys).items():
                        single.setdefault((key, variant.key), []).append(seconds)
            for subject in MEASURED:  # these writes were committed: check them all at once
                check_update(conn, subject, VARIANTS[-1], shape, down)
            print(f"  single-row writes done in {time.perf_counter() - started:.1f} s", flush=True)
    return TriggerResults(bulk, single, inside, clock.kind)


# Backfill and the writer during it -------------------------------------------------------


class Writer(threading.Thread):
    """One application connection of one colour updating random orders, each statement timed.

    The blue writer goes through the legacy view (integer cents, so the trigger runs
    ``up``), the green one writes the decimal on the base table (the trigger runs
    ``down``). It waits for ``go`` so that it only ever measures the backfill, and is
    paced like an application's connection rather than flooding one of the cores.
    """

    def __init__(self, server: Server, dbname: str, colour: str, rows: int, rate: int) -> None:
        super().__init__(name=f"{colour} writer", daemon=True)
        self.server, self.dbname, self.colour = server, dbname, colour
        self.rows, self.interval = rows, (1 / rate if rate else 0.0)
        self.ready, self.go, self.halt = threading.Event(), threading.Event(), threading.Event()
        self.latencies: list[float] = []
        self.error: BaseException | None = None

    def statement(self, rng: random.Random) -> tuple[str, list[Any]]:
        key = rng.randint(1, self.rows)
        if self.colour == LEGACY_COLOUR:
            return f"UPDATE {TABLE} SET {COLUMN} = {COLUMN} + 1 WHERE {KEY} = %s", [key]
        value = Decimal(rng.randint(0, 99_999_999)) / 100
        return f"UPDATE {TABLE} SET {COLUMN} = %s WHERE {KEY} = %s", [value, key]

    def run(self) -> None:
        options = LEGACY_OPTIONS if self.colour == LEGACY_COLOUR else None
        rng = random.Random(f"{SEED}-{self.colour}")
        try:
            with connect(self.server, self.dbname, options) as conn:
                self.ready.set()
                self.go.wait()
                due = time.perf_counter()
                while not self.halt.is_set():
                    query, params = self.statement(rng)
                    started = time.perf_counter()
                    cursor = conn.execute(query, params, prepare=True)
                    self.latencies.append(time.perf_counter() - started)
                    if cursor.rowcount != 1:
                        raise BenchFailed(f"{self.name}: {query} updated {cursor.rowcount} rows")
                    due = max(due + self.interval, time.perf_counter())
                    self.halt.wait(due - time.perf_counter())
        except BaseException as exc:  # reported by the main thread, which owns the verdict
            self.error = exc
        finally:
            self.ready.set()

    def finish(self) -> WriterStats:
        self.halt.set()
        self.go.set()
        self.join()
        expect(self.error is None, f"the {self.name} failed: {self.error!r}")
        expect(bool(self.latencies), f"the {self.name} sent no statement during the backfill")
        return WriterStats(self.colour, self.latencies)


@dataclass(frozen=True)
class WriterStats:
    colour: str
    latencies: list[float]

    def ms(self, share: float) -> float:
        return percentile(self.latencies, share) * 1000


@dataclass(frozen=True)
class Backfill:
    label: str
    rows: int
    batch: int  # rows per statement: the whole table for the plain UPDATE
    ddl_seconds: float
    seconds: float
    cpu_seconds: float  # the backend's, from the first UPDATE's start to the last one's end
    statements: list[float]  # seconds of each UPDATE statement, in order
    writers: list[WriterStats] = field(default_factory=list)
    wal_bytes: int = 0  # WAL the server wrote from the first UPDATE's start to the last one's end

    @property
    def rate(self) -> float:
        return self.rows / self.seconds

    @property
    def cpu_rate(self) -> float:
        """Rows per second of server CPU: what the comparison with the plain UPDATE uses,
        since on a shared machine wall time measured minutes apart drifts with the load."""
        return self.rows / self.cpu_seconds

    def per_batch_ms(self, batch: int) -> float:
        """Median statement time scaled to ``batch`` rows, to compare with any other run."""
        return median(self.statements) * 1000 * batch / self.batch


def wal_lsn(conn: psycopg.Connection) -> str:
    """Where the server's WAL ends now: the start of a ``wal_bytes_since`` measurement.

    The insert position, not ``pg_current_wal_lsn()``: with ``synchronous_commit=off``
    (the throwaway server's) the written position lags by up to the WAL buffers.
    """
    return conn.execute("SELECT pg_catalog.pg_current_wal_insert_lsn()::text").fetchone()[0]


def wal_bytes_since(conn: psycopg.Connection, lsn: str) -> int:
    """WAL bytes the whole server wrote since ``lsn``: every session's, not one's."""
    return int(
        conn.execute(
            "SELECT pg_catalog.pg_wal_lsn_diff(pg_catalog.pg_current_wal_insert_lsn(), %s::pg_lsn)",
            [lsn],
        ).fetchone()[0]
    )


def plain_update(
    server: Server, template: str, rows: int, up: str, type_sql: str, batch: int | None = None
) -> Backfill:
    """The yardstick: the new column added plainly and filled by one UPDATE, no trigger;
    with ``batch``, by UPDATEs of that many keys each committed on its own, as a
    resumable backfill must, which shows what committing every batch costs by itself."""
    with database(server, "plain", template) as dbname, connect(server, dbname) as conn:
        table, column, key = ident(BASE_SCHEMA, TABLE), ident(PLAIN_NEW_COLUMN), ident(KEY)
        started = time.perf_counter()
        conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} {type_sql}")
        ddl = time.perf_counter() - started
        ranges = (
            [""]
            if batch is None
            else [
                f" WHERE {key} > {low} AND {key} <= {low + batch}" for low in range(0, rows, batch)
            ]
        )
        clock = BackendClock(conn)
        wal = wal_lsn(conn)
        started, cpu, statements, updated = time.perf_counter(), clock(), [], 0
        for where in ranges:  # autocommit: each its own transaction
            began = time.perf_counter()
            updated += conn.execute(f"UPDATE {table} SET {column} = ({up}){where}").rowcount
            statements.append(time.perf_counter() - began)
        seconds, cpu = time.perf_counter() - started, clock() - cpu
        wal_bytes = wal_bytes_since(conn, wal)
        expect(updated == rows, f"the plain UPDATE updated {updated}, not {rows}")
        wrong = conn.execute(
            f"SELECT count(*) FROM {table} WHERE {column} IS DISTINCT FROM ({up})"
        ).fetchone()[0]
        expect(wrong == 0, f"the plain UPDATE left {wrong} rows without up({COLUMN})")
    label = (
        "one plain UPDATE" if batch is None else f"plain UPDATEs of {batch:,} keys, a commit each"
    )
    return Backfill(label, rows, batch or rows, ddl, seconds, cpu, statements, wal_bytes=wal_bytes)


class BatchClock:
    """Times each backfill batch statement on Django's connection (``execute_wrapper``).

    The backfill lasts from the start of its first batch to the end of its last, which
    leaves out the DDL before it and the bookkeeping after, wherever ``migrate`` runs
    it. ``starts`` is called before the first batch (to release the writers). The
    per-batch times show whether a batch costs what its rows cost, or more.
    """

    MARK = "_compat_batch"

    def __init__(self, starts: Callable[[], None]) -> None:
        self.starts = starts
        self.cpu: BackendClock | None = None
        self.seconds: list[float] = []
        self.first = self.last = self.first_cpu = self.last_cpu = 0.0

    def __call__(self, execute, statement, params, many, context):
        if self.MARK not in statement:
            return execute(statement, params, many, context)
        if self.cpu is None:  # the backend that runs the batches, whichever it is
            self.cpu = BackendClock(context["connection"].connection)
            self.starts()
            self.first, self.first_cpu = time.perf_counter(), self.cpu()
        started = time.perf_counter()
        try:
            return execute(statement, params, many, context)
        finally:
            self.last = time.perf_counter()
            self.seconds.append(self.last - started)
            self.last_cpu = self.cpu()

    @property
    def span(self) -> float:
        return self.last - self.first

    @property
    def cpu_span(self) -> float:
        return self.last_cpu - self.first_cpu


def library_backfill(
    server: Server,
    template: str,
    args: argparse.Namespace,
    up: str,
    batch: int,
    writer_colours: Sequence[str] = (),
) -> Backfill:
    """Expand through ``migrate`` and time the backfill apart from the DDL."""
    label = f"compat_views, batch {batch:,}"
    if writer_colours:
        label += f", {' + '.join(writer_colours)} writers"
    with database(server, f"backfill_{batch}_{len(writer_colours)}", template) as dbname:
        writers = [Writer(server, dbname, c, args.rows, args.writer_rate) for c in writer_colours]
        for writer in writers:
            writer.start()
            writer.ready.wait()

        def backfill_starts() -> None:
            for writer in writers:
                writer.go.set()

        with connect(server, dbname) as conn:
            legacy_sum = conn.execute(f"SELECT sum({ident(COLUMN)}) FROM {TABLE}").fetchone()[0]
        connection = connections["default"]
        connection.ensure_connection()
        clock = BatchClock(backfill_starts)
        try:
            with (
                override_settings(COMPAT_VIEWS_BACKFILL_BATCH_SIZE=batch),
                connection.execute_wrapper(clock),
                redirect_stdout(io.StringIO()),  # the backfill's progress lines
            ):
                started = time.perf_counter()
                call_command("migrate", APP, ALTER, verbosity=0)
                ended = time.perf_counter()
        finally:
            stats = [writer.finish() for writer in writers]
        from compat_views.models import AppliedOperation

        operation = AppliedOperation.objects.get(rollout__status="pending", touched__table=TABLE)
        expect(
            operation.backfill_status == "done" and bool(clock.seconds),
            f"after migrate the backfill is {operation.backfill_status!r}, not 'done'",
        )
        shape = read_shape()
        connection.close()
        with connect(server, dbname) as conn:
            wrong = count_up_mismatches(conn, shape, up)
            expect(wrong == 0, f"{label}: {wrong} rows do not have {COLUMN} = up(legacy)")
            if not writers:
                expect(
                    operation.backfill_rows == args.rows,
                    f"{label}: filled {operation.backfill_rows} rows, not {args.rows}",
                )
                after = conn.execute(f"SELECT sum({ident(shape.aside)}) FROM {TABLE}").fetchone()[0]
                expect(after == legacy_sum, f"{label}: the backfill rewrote legacy values")
    ddl = ended - started - clock.span
    return Backfill(label, args.rows, batch, ddl, clock.span, clock.cpu_span, clock.seconds, stats)


def measure_backfills(
    server: Server, args: argparse.Namespace, operation: AlterCompatColumn
) -> list[Backfill]:
    """The yardsticks (one UPDATE; batches, a commit each), the library alone, with both
    colours writing, and a second batch size.

    Both writers share one backfill: at their pace they take a fraction of a core, and a
    1,000,000-row backfill is the longest step of the bench.
    """
    print(f"backfill of {args.rows:,} rows:", flush=True)
    type_sql = operation.field.db_type(connections["default"])
    plans: list[tuple[int, Sequence[str]]] = [(DEFAULT_BATCH, ())]
    if args.second_batch and args.second_batch != DEFAULT_BATCH:
        plans.append((args.second_batch, ()))
    plans.append((DEFAULT_BATCH, (LEGACY_COLOUR, NEW_COLOUR)))
    runs: list[Backfill] = []
    with database(server, "template") as template:
        release1(server, template, args.rows)
        for batch in (None, DEFAULT_BATCH):
            runs.append(plain_update(server, template, args.rows, operation.up, type_sql, batch))
            print(f"  {runs[-1].label}: {runs[-1].seconds:.2f} s", flush=True)
        for batch, colours in plans:
            runs.append(library_backfill(server, template, args, operation.up, batch, colours))
            print(f"  {runs[-1].label}: {runs[-1].seconds:.2f} s", flush=True)
    return runs


# Report ----------------------------------------------------------------------------------


def ratio(timings: Timings, subject: Subject, variant: str) -> float:
    """Time relative to the no-trigger table of the same shape: the median of each round's
    own ratio.

    The tables take turns within a round, so pairing them cancels the machine getting
    slower or faster between rounds.
    """
    pairs = zip(timings[subject.key, variant], timings[subject.baseline, variant], strict=True)
    return median([seconds / baseline for seconds, baseline in pairs])


def trigger_table(
    title: str,
    unit: str,
    count: int,
    timings: Timings,
    subjects: Sequence[Subject],
    inside: dict[tuple[str, str], float] | None = None,
) -> Table:
    """Rates and time ratios to the no-trigger table, one column group per variant."""
    headers = ["trigger"]
    for variant in VARIANTS:
        headers += [f"{variant.label} {unit}", "× none"] + (["µs/row in trigger"] if inside else [])
    rows = []
    for subject in subjects:
        row = [subject.label]
        for variant in VARIANTS:
            rate = count / median(timings[subject.key, variant.key])
            row += [f"{rate:,.0f}", f"{ratio(timings, subject, variant.key):.2f}×"]
            if inside:
                row.append(f"{inside[subject.key, variant.key]:.2f}")
        rows.append(row)
    notes = [
        f"{variant.label}: {variant.assignment or 'new orders'} ({variant.why})"
        for variant in VARIANTS
    ]
    return Table(title, headers, rows, notes)


def trigger_chart(name: str, title: str, timings: Timings, target: float | None = None) -> Chart:
    return Chart(
        name,
        title,
        "time relative to no trigger (×)",
        [variant.label for variant in VARIANTS],
        {s.label: [ratio(timings, s, v.key) for v in VARIANTS] for s in MEASURED},
        reference=target,
        reference_label="target (bulk UPDATE)",
    )


def add_triggers(results: Results, args: argparse.Namespace, triggers: TriggerResults) -> None:
    """The trigger comparison's tables, charts and the bulk UPDATE targets."""
    method = (
        f"{triggers.clock} of the statement, median of {args.repeat} rounds (each run in a "
        "rolled-back transaction on a freshly VACUUMed table; µs/row in trigger from one "
        "EXPLAIN ANALYZE, 0 where WHEN kept the row out of plpgsql)"
    )
    shaped = [subject for subject in SUBJECTS if not subject.bare]
    bare = [subject for subject in SUBJECTS if subject.bare]
    results.tables += [
        trigger_table(
            f"Bulk writes of {args.bulk_rows:,} rows on {TABLE} as Django makes it (primary "
            f"key, foreign key, two indexed columns): {method}",
            "rows/s",
            args.bulk_rows,
            triggers.bulk,
            shaped,
            triggers.inside,
        ),
        trigger_table(
            "Worst case: the same on copies with no index but the primary key's",
            "rows/s",
            args.bulk_rows,
            triggers.bulk,
            bare,
            triggers.inside,
        ),
        trigger_table(
            f"Single-row writes by primary key: {args.single:,} autocommit prepared statements "
            f"a run, the tables taking turns; {triggers.clock}, median of {args.repeat}",
            "stmts/s",
            args.single,
            triggers.single,
            MEASURED,
        ),
    ]
    results.charts += [
        trigger_chart(
            "trigger_bulk",
            f"Bulk writes, {TABLE} as Django makes it",
            triggers.bulk,
            TARGET_BULK_RATIO,
        ),
        trigger_chart("trigger_single", "Single-row writes", triggers.single),
    ]
    ours = subject_named("ours")
    results.targets += [
        Target(
            f"bulk {variant.label} ({variant.why}), our trigger vs none",
            ratio(triggers.bulk, ours, variant.key),
            TARGET_BULK_RATIO,
            "×",
        )
        for variant in UPDATES
    ]


def add_backfills(results: Results, args: argparse.Namespace, backfills: list[Backfill]) -> None:
    """The backfill against one plain UPDATE (and plain batches), and the writers'
    latency during it."""
    plain, _, *library = backfills
    per = f"ms/{DEFAULT_BATCH:,} rows"
    backfill = Table(
        f"Backfill of {args.rows:,} rows, each on a fresh copy of the same release-1 table",
        ["method", "DDL s", "fill s", "rows/s", "server CPU s", "of plain (CPU)", per],
        [
            [
                run.label,
                f"{run.ddl_seconds:.2f}",
                f"{run.seconds:.2f}",
                f"{run.rate:,.0f}",
                f"{run.cpu_seconds:.2f}",
                f"{run.cpu_rate / plain.cpu_rate:.0%}",
                f"{run.per_batch_ms(DEFAULT_BATCH):.1f}",
            ]
            for run in backfills
        ],
        [
            f"{per}: the median UPDATE statement, scaled to {DEFAULT_BATCH:,} rows",
            "of plain (CPU): rows per second of the backend's CPU, against the plain UPDATE's; "
            "wall times measured minutes apart on a shared machine drift with its load",
            "plain UPDATEs, a commit each: the same key ranges as the backfill's batches, no "
            "trigger, no checkpoint; the share they lose is what committing each batch costs",
        ],
    )
    writers = [stats for run in library for stats in run.writers]
    pace = f"each paced at {args.writer_rate}/s" if args.writer_rate else "flat out"
    latency = Table(
        f"Single-row writers during the backfill (batch {DEFAULT_BATCH:,}, {pace})",
        ["colour", "stmts", "p50 ms", "p99 ms", "max ms"],
        [
            [
                f"{stats.colour} ({WRITES[stats.colour]})",
                str(len(stats.latencies)),
                *(f"{stats.ms(share):.2f}" for share in (0.5, 0.99, 1.0)),
            ]
            for stats in writers
        ],
    )
    results.tables += [backfill, latency]
    results.charts += [
        Chart(
            "backfill",
            f"Backfill of {args.rows:,} rows",
            "rows per second of server CPU",
            [run.label for run in backfills],
            {"rows per CPU second": [run.cpu_rate for run in backfills]},
            reference=TARGET_BACKFILL_SHARE * plain.cpu_rate,
            reference_label="target: 70% of the plain UPDATE",
        ),
        Chart(
            "writer_latency",
            "Single-row writers during the backfill",
            "ms",
            [f"{stats.colour} ({WRITES[stats.colour]})" for stats in writers],
            {
                f"p{share * 100:.0f}": [stats.ms(share) for stats in writers]
                for share in (0.5, 0.99)
            },
            reference=TARGET_WRITER_P99_MS,
        ),
    ]
    results.targets += [
        *(
            Target(
                f"backfill, {run.label}, of one plain UPDATE's rows per server CPU second",
                run.cpu_rate / plain.cpu_rate,
                TARGET_BACKFILL_SHARE,
                "%",
                at_least=True,
            )
            for run in library
            if not run.writers
        ),
        *(
            Target(
                f"{stats.colour} writer p99 during the backfill",
                stats.ms(0.99),
                TARGET_WRITER_P99_MS,
                "ms",
            )
            for stats in writers
        ),
    ]


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)

    def measure(server: Server) -> tuple[TriggerResults, list[Backfill]]:
        operation = alter_operation()
        print(
            f"sync trigger and backfill cost of AlterCompatColumn({operation.model_name!r}, "
            f"{operation.name!r}, up={operation.up!r}, down={operation.down!r})",
            flush=True,
        )
        return (
            measure_triggers(server, args, operation.up, operation.down),
            measure_backfills(server, args, operation),
        )

    def report(results: Results, measured: tuple[TriggerResults, list[Backfill]]) -> None:
        add_triggers(results, args, measured[0])
        add_backfills(results, args, measured[1])

    return run_bench(APP, "sync", args.json, measure, report)


if __name__ == "__main__":
    sys.exit(main())
