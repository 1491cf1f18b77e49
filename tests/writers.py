"""Writer processes of one colour on the fault scenario's orders, and the rows they owe.

A row of the ledger is ``[customer, amount_cents, amount, code]`` as last written;
``None`` for ``amount`` or ``code`` means "what ``up`` gives" (``new_shape``). Each
writer owns its rows (those it inserted, and the seeded rows handed to it), so it always
knows what each must read back; it checks every row it locks ``FOR UPDATE`` against that,
and hands its rows back when it stops. No Django here: the processes are spawned, and
import only this module.
"""

from __future__ import annotations

import random
import time
import traceback
from collections import Counter
from decimal import Decimal

import psycopg

CENTS = Decimal("0.01")
OPERATIONS = ("insert", "update", "delete", "upsert", "select_for_update")
WEIGHTS = (3, 3, 1, 2, 2)
KEEP = 20  # a writer deletes only while it owns more rows than this
THINK_S = 0.002
MAX_SAMPLES = 20


def new_shape(row: list) -> list:
    """The row as the new colour reads it: ``up`` where nobody wrote the new column."""
    customer, cents, amount, code = row
    return [
        customer,
        cents,
        (Decimal(cents) / 100).quantize(CENTS) if amount is None else amount,
        f"order-{cents}" if code is None else code,
    ]


class Writer:
    """One process's connection and rows; ``step`` does one operation of the mix."""

    def __init__(
        self, conn: psycopg.Connection, colour: str, index: int, phase: int, owned: dict
    ) -> None:
        self.conn, self.colour, self.owned = conn, colour, owned
        self.rng = random.Random(f"{colour}-{index}-{phase}")
        # Cents and codes unique to this writer in this phase: ``code`` is unique, and
        # blue's comes from the cents.
        self.serial = (index + 1) * 10_000_000 + phase * 1_000_000
        self.tag = f"{colour}{index}"
        self.counts: Counter[str] = Counter()
        self.mismatches: list[str] = []

    def next_cents(self) -> int:
        self.serial += 1
        return self.serial

    def values(self) -> list:
        """Fresh values in this colour's shape (green also writes the new columns)."""
        cents = self.next_cents()
        if self.colour == "blue":
            return [f"{self.tag}-{cents}", cents, None, None]
        return [f"{self.tag}-{cents}", cents, Decimal(cents % 10_000) / 100, f"g-{cents}"]

    def columns(self) -> str:
        return "customer, amount_cents" + (", amount, code" if self.colour == "green" else "")

    def written(self, row: list) -> list:
        return row[:2] if self.colour == "blue" else row

    def step(self) -> None:
        operation = self.rng.choices(OPERATIONS, WEIGHTS)[0]
        if operation != "insert" and not self.owned:
            operation = "insert"
        if operation == "delete" and len(self.owned) <= KEEP:
            operation = "update"
        getattr(self, operation)()
        self.counts[operation] += 1

    def pick(self) -> int:
        return self.rng.choice(list(self.owned))

    def insert(self) -> None:
        row = self.values()
        marks = ", ".join(["%s"] * len(self.written(row)))
        (row_id,) = self.conn.execute(
            f"INSERT INTO shop_order ({self.columns()}) VALUES ({marks}) RETURNING id",
            self.written(row),
        ).fetchone()
        self.owned[row_id] = row

    def change(self, row_id: int) -> tuple[str, list, list]:
        """An UPDATE's SET clause, its parameters and the row after it."""
        old = self.owned[row_id]
        if self.colour == "blue":  # a new price: the trigger derives amount and code again
            cents = self.next_cents()
            return "amount_cents = %s", [cents], [old[0], cents, None, None]
        amount = Decimal(self.rng.randint(1, 99_999)) / 100
        return "amount = %s", [amount], [*old[:2], amount, old[3]]

    def update(self, row_id: int | None = None) -> None:
        row_id = self.pick() if row_id is None else row_id
        assignment, params, after = self.change(row_id)
        self.conn.execute(f"UPDATE shop_order SET {assignment} WHERE id = %s", [*params, row_id])
        self.owned[row_id] = after

    def delete(self) -> None:
        row_id = self.pick()
        self.conn.execute("DELETE FROM shop_order WHERE id = %s", [row_id])
        del self.owned[row_id]

    def upsert(self) -> None:
        """INSERT … ON CONFLICT DO UPDATE of an owned row (the update path, by its id)."""
        row_id, row = self.pick(), self.values()
        row[0] = self.owned[row_id][0]
        names = self.columns().split(", ")
        marks = ", ".join(["%s"] * len(names))
        updates = ", ".join(f"{name} = EXCLUDED.{name}" for name in names)
        self.conn.execute(
            f"INSERT INTO shop_order (id, {self.columns()}) VALUES (%s, {marks}) "
            f"ON CONFLICT (id) DO UPDATE SET {updates}",
            [row_id, *self.written(row)],
        )
        self.owned[row_id] = row

    def select_for_update(self) -> None:
        """Lock a row, check it reads as owed, then change it in the same transaction."""
        row_id = self.pick()
        with self.conn.transaction():
            got = self.conn.execute(
                f"SELECT {self.columns()} FROM shop_order WHERE id = %s FOR UPDATE", [row_id]
            ).fetchone()
            owed = self.owned[row_id]
            want = self.written(owed if self.colour == "blue" else new_shape(owed))
            if got is None or list(got) != want:
                self.mismatches.append(f"{self.tag} read row {row_id} as {got}, owed {want}")
            self.update(row_id)


def run(conninfo: str, colour: str, index: int, phase: int, owned: dict, stop, results) -> None:
    """A spawned process's body: write until ``stop`` is set, then put its result."""
    errors: list[str] = []
    writer = None
    try:
        with psycopg.connect(
            conninfo,
            autocommit=True,
            application_name=f"compat_{colour}:soak-{index}",
            options=f"-c search_path=compat_{colour},public",
        ) as conn:
            writer = Writer(conn, colour, index, phase, owned)
            while not stop.is_set():
                try:
                    writer.step()
                except psycopg.Error as exc:  # every failure is a finding; its change rolled back
                    errors.append(f"{colour}{index}: {type(exc).__name__}: {exc}")
                time.sleep(THINK_S)
    except Exception:
        errors.append(f"{colour}{index}: {traceback.format_exc()}")
    results.put(
        {
            "colour": colour,
            "index": index,
            "owned": writer.owned if writer else owned,
            "counts": dict(writer.counts) if writer else {},
            "errors": errors[:MAX_SAMPLES] + [f"{len(errors)} errors in all"] * (len(errors) > 0),
            "mismatches": writer.mismatches[:MAX_SAMPLES] if writer else [],
            "mismatch_count": len(writer.mismatches) if writer else 0,
            "error_count": len(errors),
        }
    )
