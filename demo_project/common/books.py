"""The bookshop's outside contract: books as JSON, spelt in the running release's field names.

Written against the app registry's ``bookshop.Book`` rather than one release's model, so
the pages, the API and the ``books`` command are the same code in every release while what
they show follows the release's schema (``title`` in release 1, ``name`` in release 2).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.apps import apps
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection, models, transaction


def book_model() -> type[models.Model]:
    return apps.get_model("bookshop", "Book")


def fields() -> list[models.Field]:
    """The fields a client reads and writes: every column of the release's model but the key."""
    return [f for f in book_model()._meta.concrete_fields if not f.primary_key]


def as_json(book: models.Model, fields: list[models.Field]) -> dict[str, Any]:
    return {"id": book.pk, **{f.name: f.value_from_object(book) for f in fields}}


def source_relation() -> str:
    """Where this session's ``bookshop_book`` resolves to, schema-qualified.

    The point of the demo in one line: the legacy colour reads ``compat_<colour>.…`` (the
    view) during a rollout, and the base table otherwise, with no change to its code.
    """
    table = book_model()._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT n.nspname FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n "
            "ON n.oid = c.relnamespace WHERE c.oid = pg_catalog.to_regclass(%s)",
            [table],
        )
        row = cursor.fetchone()
    return f"{row[0]}.{table}" if row else f"(no {table})"


def snapshot(limit: int | None = None) -> dict[str, Any]:
    """Who is serving and what it reads: all books by id, or only the newest ``limit``."""
    query, shown = book_model().objects.order_by("-pk"), fields()
    books = list(query[:limit] if limit is not None else query)
    return {
        "release": settings.RELEASE,
        "colour": settings.COMPAT_VIEWS_COLOUR,
        "relation": source_relation(),
        "fields": ["id", *(f.name for f in shown)],
        "count": query.count() if limit is not None else len(books),
        "books": [as_json(book, shown) for book in reversed(books)],
    }


def create(items: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Validate and save books in one transaction, through the ORM as any view would.

    Keys the release does not know are an error rather than ignored, so a client speaking
    the other release's shape (``name`` to release 1) fails loudly.
    """
    model, writable = book_model(), fields()
    known = {f.name for f in writable}
    created = []
    with transaction.atomic():
        for item in items:
            unknown = sorted(set(item) - known)
            if unknown:
                raise ValidationError(
                    {key: f"unknown field; this release knows {sorted(known)}" for key in unknown}
                )
            book = model(**item)
            book.full_clean()
            book.save()
            created.append(as_json(book, writable))
    return created
