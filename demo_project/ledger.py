"""The ledger of every book the demo wrote, and the checks against it.

Each entry keeps which colour wrote the book last, every write in the writer's own shape,
and (through ``catalogue.Book``) what each colour must read back. The traffic checks a
read against it while the rollout runs; at the end every entry is compared with the table
in its final shape. A book is used by one request at a time (``checkout``), so the entry
always says what the database should hold.
"""

from __future__ import annotations

import random
import threading
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from .catalogue import SHAPES, Book

RECENT = 200  # per colour, the books it wrote last: where reads of "the other's" writes pick
MAX_MISMATCHES = 200  # kept verbatim; beyond that only counted


@dataclass
class Entry:
    id: int
    book: Book
    writer: str  # the colour of the last successful write
    writes: list[tuple[str, dict[str, Any]]]  # (colour, values in that colour's shape)
    busy: bool = False
    unknown: str = ""  # why the row's state is unknown (a write whose outcome we never saw)


class Ledger:
    """Thread-safe: every traffic thread records its writes and checks its reads here."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.entries: dict[int, Entry] = {}
        self._ids: list[int] = []
        self._recent = {colour: deque(maxlen=RECENT) for colour in SHAPES}
        # Reads by each colour of a book the other colour wrote last, that matched.
        self.cross_reads = dict.fromkeys(SHAPES, 0)
        self.mismatches: list[str] = []
        self.mismatch_count = 0

    def mismatch(self, message: str) -> None:
        with self._lock:
            self.mismatch_count += 1
            if len(self.mismatches) < MAX_MISMATCHES:
                self.mismatches.append(message)

    def created(self, colour: str, book_id: int, values: dict[str, Any]) -> None:
        with self._lock:
            self.entries[book_id] = Entry(
                book_id, Book.written(colour, values), colour, [(colour, values)]
            )
            self._ids.append(book_id)
            self._recent[colour].append(book_id)

    def checkout(self, rng: random.Random, written_by: str | None = None) -> Entry | None:
        """An idle book, for one request's exclusive use until ``release``; None if none
        came up. ``written_by`` prefers a book that colour wrote recently."""
        pools = [(self._recent[written_by], 4)] if written_by else []
        with self._lock:
            for pool, tries in [*pools, (self._ids, 8)]:
                for _ in range(tries if pool else 0):
                    entry = self.entries[pool[rng.randrange(len(pool))]]
                    if not entry.busy and not entry.unknown:
                        entry.busy = True
                        return entry
        return None

    def release(
        self, entry: Entry, colour: str = "", changes: dict[str, Any] | None = None
    ) -> None:
        """Hand the book back, after ``colour`` successfully wrote ``changes`` if given."""
        with self._lock:
            if changes is not None:
                entry.book = entry.book.apply(colour, changes)
                entry.writer = colour
                entry.writes.append((colour, changes))
                self._recent[colour].append(entry.id)
            entry.busy = False

    def lost_track(self, entry: Entry, why: str) -> None:
        """A write to the book failed in a way that leaves its state unknown."""
        with self._lock:
            entry.unknown = why
            entry.busy = False

    def check_read(self, colour: str, entry: Entry, got: Mapping[str, Any]) -> None:
        """Compare what ``colour`` read with what the ledger says it must read."""
        want = {"id": entry.id, **entry.book.shape(colour)}
        if dict(got) == want:
            if entry.writer != colour:
                with self._lock:
                    self.cross_reads[colour] += 1
            return
        self.mismatch(
            f"{colour} read book {entry.id} (last written by {entry.writer}): "
            + _difference(want, got)
        )

    def verify(self, shape: str, rows: Iterable[Mapping[str, Any]]) -> int:
        """Compare the final table (rows as read from it) with every entry in ``shape``;
        record a mismatch for each difference and return how many books were exactly right."""
        by_id = {row["id"]: row for row in rows}
        verified = 0
        for entry in self.entries.values():
            row = by_id.pop(entry.id, None)
            where = f"book {entry.id} (last written by {entry.writer})"
            if row is None:
                self.mismatch(f"{where} is missing from the table")
                continue
            if entry.unknown:
                self.mismatch(f"{where} not checked: {entry.unknown}")
                continue
            want = {"id": entry.id, **entry.book.shape(shape)}
            got = {name: _json_value(row.get(name, "<no such column>")) for name in want}
            if got == want:
                verified += 1
            else:
                self.mismatch(
                    f"{where}, in the final table: {_difference(want, got)}; "
                    f"its writes: {_history(entry)}"
                )
        for book_id in sorted(by_id):
            self.mismatch(f"book {book_id} is in the table, but nobody recorded writing it")
        return verified

    def all_mismatches(self) -> list[str]:
        hidden = self.mismatch_count - len(self.mismatches)
        return self.mismatches + ([f"... and {hidden} more"] if hidden else [])


def _json_value(value: Any) -> Any:
    """A value read from the table, spelt as the API's JSON spells it (decimals as strings)."""
    return value if value is None or isinstance(value, int | str) else str(value)


def _history(entry: Entry, last: int = 3) -> str:
    writes = [f"{colour} {values}" for colour, values in entry.writes[-last:]]
    skipped = len(entry.writes) - len(writes)
    return "; ".join([f"{skipped} earlier"] * bool(skipped) + writes)


def _difference(want: Mapping[str, Any], got: Mapping[str, Any]) -> str:
    keys = [key for key in {**want, **got} if want.get(key) != got.get(key)]
    return ", ".join(f"{key} is {got.get(key)!r}, expected {want.get(key)!r}" for key in keys)
