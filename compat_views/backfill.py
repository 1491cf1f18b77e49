"""Batched backfill of columns added during a rollout, outside the migration's transaction.

Keyset batches on one unique NOT NULL column, each batch its own short transaction
that also saves the checkpoint, so a killed process resumes where it stopped.
Only rows whose new column is still NULL are filled: rows the legacy colour wrote
since expand were filled by the sync trigger, and rows the new colour wrote keep
what it wrote. ``up`` is evaluated per row inside the UPDATE, on the row version
being updated, so a concurrent write is never overwritten with a stale value. A batch
runs ``up`` without the fit check first and re-runs with it only if it failed.

The batch's own writes must not run ``down`` (it would rewrite legacy values from
the new ones, which is wrong for an ``up`` that is not invertible). Where the
session may, each batch sets ``session_replication_role = replica`` for its
transaction, so no trigger fires for the rows it fills (they only get new columns;
the concurrent writers' triggers still fire): the fastest way. Otherwise the
batch runs as a legacy writer (the legacy schema first in its search_path, for
that transaction only), and the ``down`` triggers' WHEN clause skips it.
"""

from __future__ import annotations

import json
import sys
import time

from django.db import DatabaseError, DataError, connections, transaction
from django.utils import timezone

from . import conf, pacing, triggers
from .mapping import Plan, Sync
from .pacing import duration_text
from .sql import ident, literal


def render_batch(
    schema: str, table: str, key: str, column: str, value: str, after, size: int
) -> str:
    """One batch: the next ``size`` keys after ``after`` (None: from the start), filled
    with ``value``, the step function of ``up`` called over ``_compat_row``.

    The UPDATE is bounded by a key range (not joined to the batch), so each batch
    reads only its own slice of the primary key index, whatever the table's size.
    Values are inlined as literals, so a ``%`` in ``up`` is never a placeholder.
    """
    base, row, k = ident(schema, table), ident("_compat_row"), ident(key)
    lower = "" if after is None else f"{k} > {literal(after)}"
    return (
        f"WITH _compat_batch AS (SELECT {k} AS k FROM {base} "
        f"{'WHERE ' + lower if lower else ''} ORDER BY {k} LIMIT {int(size)}), "
        "_compat_bounds AS (SELECT max(k) AS hi, count(*) AS n FROM _compat_batch), "
        f"_compat_done AS (UPDATE {base} AS {row} SET {ident(column)} = {value} "
        f"WHERE {row}.{k} <= (SELECT hi FROM _compat_bounds) "
        f"{'AND ' + row + '.' + lower if lower else ''} "
        f"AND {row}.{ident(column)} IS NULL RETURNING 1) "
        "SELECT hi, n, (SELECT count(*) FROM _compat_done) FROM _compat_bounds"
    )


def _count(cursor, schema: str, table: str, where: str = "") -> int:
    """Rows of the table (those matching ``where``), for progress only: the planner's
    estimate, so a huge table is not scanned just to draw a bar; counted only when the
    table was never analysed. A partitioned table has no estimate of its own (-1): its
    partitions' are summed."""
    relation = ident(schema, table)
    cursor.execute(
        "SELECT pg_catalog.sum(GREATEST(c.reltuples, 0))::bigint FROM pg_catalog.pg_class c "
        "WHERE c.oid = %s::regclass "
        "OR c.oid IN (SELECT relid FROM pg_catalog.pg_partition_tree(%s::regclass))",
        [relation] * 2,
    )
    estimate = cursor.fetchone()[0]
    condition = f" WHERE {where}" if where else ""
    if estimate > 0 and not where:
        return estimate
    if estimate > 0:
        cursor.execute(f"EXPLAIN (FORMAT JSON) SELECT FROM {relation}{condition}")
        plan = cursor.fetchone()[0]
        return int((json.loads(plan) if isinstance(plan, str) else plan)[0]["Plan"]["Plan Rows"])
    cursor.execute(f"SELECT count(*) FROM {relation}{condition}")
    return cursor.fetchone()[0]


def position(cursor, schema: str, table: str, key: str, checkpoint) -> tuple[int, int]:
    """(rows walked, rows in all) of a walk by ``key`` that has reached ``checkpoint``
    (None: not started), estimated as ``_count`` does.

    The batches walk the key in order, so the rows walked are those at or below the
    checkpoint, whichever run walked them: a resumed walk counts on from there instead
    of from zero.
    """
    total = _count(cursor, schema, table)
    if checkpoint is None:
        return 0, total
    done = _count(cursor, schema, table, f"{ident(key)} <= {literal(checkpoint)}")
    return done, max(total, done)


def _checkpoint(value):
    return value if isinstance(value, (int, str)) else str(value)


class Progress:
    """A progress bar on a terminal, a plain line every few seconds anywhere else.

    It shows the rows walked of the rows in the table, counting those an interrupted run
    walked (``start``); the rate and the ETA count this run's only, its pauses included.
    A ``note`` (why the walk is paused) is shown as soon as it changes.
    """

    EVERY = 2.0

    def __init__(self, stream=None) -> None:
        self.stream = stream or sys.stdout
        # Django's OutputWrapper ends every write with a newline unless told otherwise.
        self.write = (
            (lambda text: self.stream.write(text, ending=""))
            if hasattr(self.stream, "ending")
            else self.stream.write
        )
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.started = self.last = time.monotonic()
        self.before = 0
        self.note, self.width = "", 0
        self.spoke = False  # once it said something, it says when the walk ends

    def start(self, label: str, done: int, total: int) -> None:
        """The walk begins with ``done`` of ``total`` rows walked already (a resume)."""
        self.before = done
        if done:
            share = min(1.0, done / max(total, 1))
            self.write(f"  backfill {label}: resuming at {done}/{total} rows ({share:.0%})\n")
            self.stream.flush()
            self.spoke = True

    def __call__(self, label: str, done: int, total: int, finished: bool, note: str = "") -> None:
        now = time.monotonic()
        if not (
            self.tty
            or now - self.last >= self.EVERY
            or note != self.note
            or (finished and (self.spoke or now - self.started > self.EVERY))
        ):
            return
        self.last, self.spoke, self.note = now, True, note
        # The total is an estimate that can fall short or run over: the end is the end.
        total = done if finished else max(total, done)
        share = min(1.0, done / max(total, 1))
        rate = (done - self.before) / max(now - self.started, 1e-9)
        eta = "" if finished or rate <= 0 else f", ETA {duration_text((total - done) / rate)}"
        text = f"backfill {label}: {done}/{total} rows ({share:.0%}, {rate:,.0f} rows/s{eta})"
        text += f"; {note}" if note else ""
        if self.tty:
            bar = "#" * int(share * 30)
            line, end = f"  [{bar:<30}] {text}", "\n" if finished else ""
            # A shorter line than the last one (a note gone) blanks what is left of it.
            self.write(f"\r{line:<{self.width}}{end}")
            self.width = len(line)
        else:
            self.write(f"  {text}\n")
        self.stream.flush()


_SKIP_TRIGGERS = "SET LOCAL session_replication_role = replica"


def _may_skip_triggers(alias: str) -> bool:
    """Whether this session may set session_replication_role (superuser, or granted SET
    on that parameter, PG 15+); tried in a subtransaction that is rolled back."""
    try:
        with transaction.atomic(using=alias), connections[alias].cursor() as cursor:
            cursor.execute(_SKIP_TRIGGERS)
            transaction.set_rollback(True, using=alias)
        return True
    except DatabaseError:
        return False


def key_column(touched, plan: Plan) -> str:
    """The column the batches walk, by its name now: ``key_column`` holds its legacy name
    (recorded when the rollout first touched the table), which a rename since may have
    moved, so it is resolved through the plan like any legacy column."""
    return plan.physical[plan.legacy[touched.key_column]]


def _bare_or_checked(alias: str, schema: str, key: str, plan: Plan, sync: Sync) -> list[str]:
    """The values a batch tries in turn: the bare step, if the step has one (a fit check),
    then the checked step, whose error names the column and the operation."""
    row = ident("_compat_row")
    checked = triggers.call(schema, key, plan, sync, row)
    bare = triggers.bare_function(schema, key, sync)
    with connections[alias].cursor() as cursor:
        cursor.execute("SELECT pg_catalog.to_regproc(%s) IS NOT NULL", [bare])
        if not cursor.fetchone()[0]:  # no check, or a step made before bare twins existed
            return [checked]
    return [triggers.call(schema, key, plan, sync, row, triggers.bare_function), checked]


def _batch(
    alias: str, operation, statement: str, size: int, legacy_schema: str | None
) -> tuple[int, int]:
    """Run one batch of ``size`` keys and save its checkpoint in one transaction; return
    (keys seen, rows filled).

    ``legacy_schema`` None: the session may skip triggers; otherwise it writes as that
    schema's colour, whose WHEN clauses skip it.
    """
    with transaction.atomic(using=alias), connections[alias].cursor() as cursor:
        if legacy_schema is None:
            cursor.execute(_SKIP_TRIGGERS)
        else:
            cursor.execute(
                "SELECT pg_catalog.set_config('search_path', "
                "%s || ', ' || pg_catalog.current_setting('search_path'), true)",
                [ident(legacy_schema)],
            )
        cursor.execute(statement)
        last, seen, updated = cursor.fetchone()
        if seen:
            operation.backfill_checkpoint = _checkpoint(last)
        if seen < size:
            operation.backfill_status = "done"
        operation.backfill_rows += updated
        operation.backfill_walked += seen
        operation.backfill_saved_at = timezone.now()
        operation.save(update_fields=_SAVED)
    return seen, updated


_SAVED = [
    "backfill_checkpoint",
    "backfill_status",
    "backfill_rows",
    "backfill_started_at",
    "backfill_walked",
    "backfill_saved_at",
]


def run(
    alias: str,
    operation,
    plan: Plan,
    sync: Sync,
    legacy_schema: str,
    progress: Progress | None = None,
    partition: list[str] | None = None,
) -> int:
    """Fill ``operation``'s column batch by batch; return how many rows this call filled.

    ``partition`` ([schema, name]) walks only that partition of the table. A batch runs
    the bare step first, the fit check costing a second evaluation of ``up`` per row; a
    batch that fails on a value (a data exception, which rolls it back) runs again with
    the checked step, so the error names the column, the operation and the value.
    Between batches the ``pacing.Pacer`` sizes the next one and holds it back while a
    replica lags or the WAL budget is spent.
    """
    touched = operation.touched
    schema, table, key = touched.schema, touched.table, key_column(touched, plan)
    column = plan.physical[sync.target]
    values = _bare_or_checked(alias, schema, touched.legacy_name, plan, sync)
    if partition is not None:
        schema, table = partition
    pacer, pause = pacing.Pacer(alias), conf.backfill_pause()
    label = f"{table}.{column}"
    with connections[alias].cursor() as cursor:
        before, total = position(cursor, schema, table, key, operation.backfill_checkpoint)
    if progress:
        progress.start(label, before, total)
    skip_triggers = conf.backfill_skip_triggers() and _may_skip_triggers(alias)
    writer = None if skip_triggers else legacy_schema
    filled = scanned = 0
    operation.backfill_started_at, operation.backfill_walked = timezone.now(), 0

    def report(note: str = "") -> None:
        if progress:
            done = operation.backfill_status == "done"
            progress(label, before + scanned, total, done, note)

    while operation.backfill_status == "pending":
        pacer.wait(report)
        size = pacer.size
        statements = [
            render_batch(schema, table, key, column, value, operation.backfill_checkpoint, size)
            for value in values
        ]
        with pacer.batch():
            try:
                seen, updated = _batch(alias, operation, statements[0], size, writer)
            except DataError:
                if len(statements) == 1:
                    raise
                seen, updated = _batch(alias, operation, statements[-1], size, writer)
        filled += updated
        scanned += seen
        report()
        if pause and operation.backfill_status == "pending":
            time.sleep(pause)
    return filled
