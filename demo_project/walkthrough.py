"""The walkthrough itself: each phase of a rollout, and the checks that prove it worked.

Release 1 (blue) creates the schema and writes books; release 2 (green) runs ``migrate``,
the expand; both colours then read and write the same table, each seeing the other's
rows in its own shape; finally ``compat complete`` or ``compat rollback`` ends the rollout
and the surviving release must still read every row.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from psycopg.conninfo import conninfo_to_dict

from . import catalogue
from .catalogue import Book
from .database import fresh_database
from .deployment import Deployment

MIGRATION_2 = "0002_book_name_in_stock_price"
SHELF_SIZE = 2000


def phase(name: str, what: str) -> None:
    print(f"\n==> phase: {name}: {what}", flush=True)


class Checks:
    """Collects failed checks instead of stopping at the first, so one run shows them all."""

    def __init__(self) -> None:
        self.failed: list[str] = []

    def __call__(self, ok: bool, what: str, detail: str = "") -> None:
        print(
            f"  {'ok  ' if ok else 'FAIL'} {what}"
            + (f"\n       {detail}" if detail and not ok else "")
        )
        if not ok:
            self.failed.append(what)


class Walkthrough:
    """The two deployments, what they have written, and the phases in order.

    Later phases (servers, traffic) hang off this object, so it keeps every book written
    as the one source of what both colours must read.
    """

    def __init__(self, database_url: str, shelf_size: int) -> None:
        self.blue = Deployment("release1", "blue", database_url)
        self.green = Deployment("release2", "green", database_url)
        self.shelf = catalogue.shelf(shelf_size)
        self.written: list[Book] = []  # every book either colour has written, in order
        self.check = Checks()

    def write(self, deployment: Deployment, books: Iterable[Book]) -> None:
        books = list(books)
        created = deployment.add_books([book.payload(deployment.release) for book in books])
        self.written += books
        print(f"  {deployment.label} wrote {len(created)} book(s)")

    def reads(self, deployment: Deployment, through_view: bool) -> None:
        """Check that ``deployment`` reads every written book, spelt in its release's shape,
        from the legacy view or from the base table as expected."""
        snapshot = deployment.snapshot()
        relation = snapshot["relation"]
        print(f"  {deployment.label} reads {snapshot['count']} books from {relation}")
        _show(snapshot, skip={book.isbn for book in self.shelf})
        legacy_schema = f"compat_{deployment.colour}."
        self.check(
            relation.startswith(legacy_schema) == through_view,
            f"{deployment.label} reads "
            + ("its legacy view" if through_view else "the base table, no view"),
            f"it reads {relation}",
        )
        got = {
            book["isbn"]: {k: v for k, v in book.items() if k != "id"} for book in snapshot["books"]
        }
        want = {book.isbn: book.payload(deployment.release) for book in self.written}
        wrong = sorted(isbn for isbn in want.keys() | got.keys() if got.get(isbn) != want.get(isbn))
        example = wrong[0] if wrong else ""
        self.check(
            not wrong,
            f"{deployment.label} reads all {len(want)} books written so far, in its own shape",
            f"{len(wrong)} differ, e.g. {example}: expected {want.get(example)}, "
            f"read {got.get(example)}",
        )

    def status(self) -> dict[str, Any]:
        self.green.manage("compat", "status")
        return json.loads(self.green.manage("compat", "status", "--json", echo=False))

    def migration_2_applied(self) -> bool:
        listing = self.green.manage("showmigrations", "bookshop")
        return f"[X] {MIGRATION_2}" in listing

    def run(self, rollback: bool) -> None:
        phase("setup", "release 1 deploys as blue and creates its schema")
        self.blue.manage("migrate")

        phase("seed", "blue writes books in release 1's shape (title, price_cents)")
        self.write(self.blue, [*catalogue.SEED, *self.shelf])
        self.reads(self.blue, through_view=False)

        phase("expand", "release 2 deploys as green and runs migrate, the expand")
        self.green.manage("migrate")
        data = self.status()
        rollout = data["rollout"] or {}
        self.check(
            (rollout.get("legacy_colour"), rollout.get("new_colour")) == ("blue", "green"),
            "a rollout from blue to green is pending",
        )

        phase("both colours", "each colour reads and writes, and sees the other's writes")
        self.reads(self.blue, through_view=True)
        self.write(self.blue, [catalogue.BY_BLUE])
        self.reads(self.green, through_view=False)
        self.write(self.green, [catalogue.BY_GREEN])
        self.reads(self.blue, through_view=True)

        if rollback:
            phase("rollback", "release 2 is withdrawn; release 1 must keep every row")
            self.green.manage("compat", "rollback")
            survivor = self.blue
        else:
            phase("complete", "release 1 is retired; the legacy shape goes away")
            self.green.manage("compat", "complete")
            survivor = self.green
        self.reads(survivor, through_view=False)
        data = self.status()
        leftovers = {kind: names for kind, names in data["leftovers"].items() if names}
        self.check(data["rollout"] is None, "no rollout is pending")
        self.check(not leftovers, "nothing of the compat layer is left", f"left: {leftovers}")
        self.check(
            self.migration_2_applied() != rollback,
            f"bookshop.{MIGRATION_2} is " + ("unrecorded" if rollback else "still applied"),
        )


def _show(snapshot: dict[str, Any], skip: set[str]) -> None:
    """Print the books but those whose isbn is in ``skip`` (the shelf) as a small table, in
    the columns this release has."""
    fields = snapshot["fields"]
    rows = [
        [str(book[name]) for name in fields]
        for book in snapshot["books"]
        if book["isbn"] not in skip
    ]
    widths = [max(len(cell) for cell in column) for column in zip(fields, *rows, strict=True)]
    for row in [fields, *rows]:
        print(
            "      "
            + "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        )


def main(rollback: bool, quick: bool) -> int:
    """Run the walkthrough on a database of its own; 0 when every check held."""
    with fresh_database() as database_url:
        where = conninfo_to_dict(database_url)
        print(f"demo database {where['dbname']} on {where.get('host')}:{where.get('port')}")
        walkthrough = Walkthrough(database_url, 0 if quick else SHELF_SIZE)
        walkthrough.run(rollback)
    failed = walkthrough.check.failed
    print(f"\n==> {'FAILED: ' + '; '.join(failed) if failed else 'all checks passed'}")
    return 1 if failed else 0
