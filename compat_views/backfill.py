"""Batched backfill of columns added during a rollout, outside the migration's transaction.

Keyset batches on one unique NOT NULL column, each batch its own short transaction
that also saves the checkpoint, so a killed process resumes where it stopped.
Only rows whose new column is still NULL are filled: rows the legacy colour wrote
since expand were filled by the sync trigger, and rows the new colour wrote keep
what it wrote. ``up`` is evaluated per row inside the UPDATE, on the row version
being updated, so a concurrent write is never overwritten with a stale value.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable

from django.db import connections, transaction

from . import conf
from .mapping import TableShape
from .sql import ident
from .views import projection

Progress = Callable[[str], None]


def render_batch(
    schema: str, table: str, key: str, column: str, up: str, shape: TableShape, first: bool
) -> str:
    base, row = ident(schema, table), ident("_compat_row")
    after = "" if first else f"WHERE {ident(key)} > %s "
    return (
        f"WITH _compat_batch AS (SELECT {ident(key)} AS k FROM {base} {after}"
        f"ORDER BY {ident(key)} LIMIT %s), "
        f"_compat_done AS (UPDATE {base} AS {row} SET {ident(column)} = "
        f"(SELECT ({up}) FROM (SELECT {projection(shape, '_compat_row')}) AS _compat_legacy) "
        f"FROM _compat_batch WHERE {row}.{ident(key)} = _compat_batch.k "
        f"AND {row}.{ident(column)} IS NULL RETURNING 1) "
        "SELECT (SELECT max(k) FROM _compat_batch), (SELECT count(*) FROM _compat_batch), "
        "(SELECT count(*) FROM _compat_done)"
    )


def _estimate(cursor, schema: str, table: str) -> int:
    cursor.execute(f"SELECT count(*) FROM {ident(schema, table)}")
    return cursor.fetchone()[0]


def _checkpoint(value):
    return value if isinstance(value, (int, str)) else str(value)


def stdout_progress(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def run(
    alias: str, operation, shape: TableShape, progress: Progress | None = stdout_progress
) -> int:
    """Fill ``operation``'s column batch by batch; return how many rows this call filled."""
    touched = operation.touched
    schema, table, key = touched.schema, touched.table, touched.key_column
    column, up = operation.spec["column"], operation.spec["up"]
    connection = connections[alias]
    batch_size, pause = conf.backfill_batch_size(), conf.backfill_pause()
    with connection.cursor() as cursor:
        total = _estimate(cursor, schema, table)
    started = last_report = time.monotonic()
    filled = 0
    label = f"{table}.{column}"
    while operation.backfill_status == "pending":
        first = operation.backfill_checkpoint is None
        statement = render_batch(schema, table, key, column, up, shape, first)
        params = [batch_size] if first else [operation.backfill_checkpoint, batch_size]
        with transaction.atomic(using=alias):
            with connection.cursor() as cursor:
                cursor.execute(statement, params)
                last, seen, updated = cursor.fetchone()
            if seen:
                operation.backfill_checkpoint = _checkpoint(last)
            if seen < batch_size:
                operation.backfill_status = "done"
            operation.backfill_rows += updated
            operation.save(
                update_fields=["backfill_checkpoint", "backfill_status", "backfill_rows"]
            )
        filled += updated
        now = time.monotonic()
        if progress and (
            now - last_report > 2 or (operation.backfill_status == "done" and now - started > 2)
        ):
            last_report = now
            share = min(100, 100 * operation.backfill_rows // max(total, 1))
            progress(f"  backfill {label}: {operation.backfill_rows}/{total} rows ({share}%)")
        if pause and operation.backfill_status == "pending":
            time.sleep(pause)
    return filled
