"""The books the demo writes, and how each release spells a book in its API.

The runner and its checks speak in ``Book``; ``payload`` turns one into what a release
accepts and returns, so "does blue see green's book" is a comparison of payloads.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

CENT = Decimal("0.01")


@dataclass(frozen=True)
class Book:
    isbn: str
    title: str
    price_cents: int
    in_stock: bool = True  # release 2's column; release 1's rows get its default

    @property
    def price(self) -> Decimal:
        """Release 2's decimal price: what ``up`` computes from ``price_cents``."""
        return (Decimal(self.price_cents) / 100).quantize(CENT)

    def payload(self, release: str) -> dict[str, Any]:
        """The book as ``release``'s API reads and writes it (without the id)."""
        if release == "release1":
            return {"title": self.title, "price_cents": self.price_cents, "isbn": self.isbn}
        if release == "release2":
            return {
                "name": self.title,
                "price_cents": self.price_cents,
                "isbn": self.isbn,
                "in_stock": self.in_stock,
                "price": str(self.price),
            }
        raise ValueError(f"no API shape known for {release!r}")


# On-topic reading for a rollout, written by release 1 before anything changes.
SEED = (
    Book("978-0321601919", "Continuous Delivery", 3999),
    Book("978-0321293534", "Refactoring Databases", 4499),
    Book("978-1680502398", "Release It!", 3495),
)
# Written during the rollout, one by each colour.
BY_BLUE = Book("978-1491925942", "Database Reliability Engineering", 3999)
BY_GREEN = Book("978-1449373320", "Designing Data-Intensive Applications", 4599, in_stock=False)


def shelf(count: int) -> list[Book]:
    """Filler books, so that the backfill of ``price`` has batches to walk."""
    return [Book(f"979-0-{n:07d}", f"Shelf volume {n}", 100 + n % 9900) for n in range(count)]
