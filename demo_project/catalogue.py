"""A book as both releases see it, and the Python twin of release 2's migration.

The traffic generator writes books in the shape of the colour it talks to; the checks
need to know what every colour must read back afterwards. ``Book.apply`` is that
knowledge: the sync rules of ``release2/bookshop/migrations/0002_rollout.py`` (each
``up`` and ``down``) written again in Python, so a trigger that computes anything else
shows up as a mismatch.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, replace
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

CENT = Decimal("0.01")
FORMATS = ("paperback", "hardcover", "ebook")
GREEN_FORMAT = "paperback"  # RemoveCompatColumn's ``down``: the format of release 2's books

# What each colour's API reads and writes (besides the id).
SHAPES = {
    "blue": ("title", "price_cents", "isbn", "format"),
    "green": ("name", "price", "isbn", "slug"),
}
RELEASES = {"blue": "release1", "green": "release2"}

_WORDS = (
    "Continuous Delivery Refactoring Databases Release It Reliability Engineering Designing "
    "Data Intensive Applications Blue Green Zero Downtime Rollout Views Triggers Backfill "
    "Postgres Django Migrations Schema Evolution Expand Contract Patterns Practical Guide"
).split()


def slug_of(name: str) -> str:
    """``slug``'s ``up``: ``trim(both '-' from lower(regexp_replace(name, '[^a-zA-Z0-9]+',
    '-', 'g')))``."""
    return re.sub(r"[^a-zA-Z0-9]+", "-", name).lower().strip("-")


def price_of(cents: int) -> Decimal:
    """``price``'s ``up``: ``price / 100.0`` stored as numeric(10, 2)."""
    return (Decimal(cents) / 100).quantize(CENT, ROUND_HALF_UP)


def cents_of(price: Decimal) -> int:
    """``price``'s ``down``: ``round(price * 100)`` (numeric rounds half away from zero)."""
    return int((price * 100).quantize(Decimal(1), ROUND_HALF_UP))


@dataclass(frozen=True)
class Book:
    """Every column either shape reads: what the table holds for one book mid-rollout."""

    isbn: str
    name: str
    price_cents: int
    price: Decimal
    format: str
    slug: str

    @classmethod
    def written(cls, colour: str, values: dict[str, Any]) -> Book:
        """The row a create by ``colour`` leaves: its values plus what the trigger adds."""
        if colour == "blue":
            cents = int(values["price_cents"])
            return cls(
                isbn=values["isbn"],
                name=values["title"],
                price_cents=cents,
                price=price_of(cents),
                format=values["format"],
                slug=slug_of(values["title"]),
            )
        price = Decimal(values["price"])
        return cls(
            isbn=values["isbn"],
            name=values["name"],
            price_cents=cents_of(price),
            price=price,
            format=GREEN_FORMAT,
            slug=values["slug"],
        )

    def apply(self, colour: str, changes: dict[str, Any]) -> Book:
        """The row after ``colour`` changed some fields.

        Like the UPDATE trigger, a derived column is recomputed only when a column its
        expression reads actually changed, and a constant ``down`` (``format``) only ever
        applies to inserts.
        """
        if colour == "blue":
            book = replace(
                self,
                name=changes.get("title", self.name),
                price_cents=int(changes.get("price_cents", self.price_cents)),
                format=changes.get("format", self.format),
            )
            if book.name != self.name:
                book = replace(book, slug=slug_of(book.name))
            if book.price_cents != self.price_cents:
                book = replace(book, price=price_of(book.price_cents))
            return book
        book = replace(
            self,
            name=changes.get("name", self.name),
            price=Decimal(changes.get("price", self.price)),
            slug=changes.get("slug", self.slug),
        )
        if book.price != self.price:
            book = replace(book, price_cents=cents_of(book.price))
        return book

    def shape(self, colour: str) -> dict[str, Any]:
        """The book as ``colour``'s API spells it (without the id), JSON-ready."""
        if colour == "blue":
            return {
                "title": self.name,
                "price_cents": self.price_cents,
                "isbn": self.isbn,
                "format": self.format,
            }
        return {"name": self.name, "price": str(self.price), "isbn": self.isbn, "slug": self.slug}


def new_book(colour: str, isbn: str, rng: random.Random) -> dict[str, Any]:
    """A create request's body in ``colour``'s shape."""
    title = " ".join(rng.sample(_WORDS, 3)) + f" {rng.randint(1, 99)}"
    cents = rng.randint(500, 9999)
    if colour == "blue":
        return {"title": title, "price_cents": cents, "isbn": isbn, "format": rng.choice(FORMATS)}
    return {"name": title, "price": str(price_of(cents)), "isbn": isbn, "slug": slug_of(title)}


def edit(colour: str, book: Book, rng: random.Random) -> dict[str, Any]:
    """An update request's body in ``colour``'s shape: a new price, name or format."""
    what = rng.choice(("price", "name", "format") if colour == "blue" else ("price", "name"))
    if what == "price":
        cents = book.price_cents + rng.choice((-100, -5, 5, 100, 250))
        cents = cents if cents > 0 else cents + 1000
        return {"price_cents": cents} if colour == "blue" else {"price": str(price_of(cents))}
    if what == "name":
        name = f"{book.name.rsplit(' ', 1)[0]} {rng.randint(100, 999)}"
        return {"title": name} if colour == "blue" else {"name": name, "slug": slug_of(name)}
    return {"format": rng.choice([f for f in FORMATS if f != book.format])}


def shelf(count: int, rng: random.Random) -> list[dict[str, Any]]:
    """The shop's existing catalogue in release 1's shape: rows for the backfill to walk."""
    return [new_book("blue", f"978-0-{n:07d}", rng) for n in range(count)]
