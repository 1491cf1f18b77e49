"""The bookshop's outside contract: books as JSON, spelt in the running release's field names.

Written against the app registry's ``bookshop.Book`` rather than one release's model, so
the pages and the API are the same code in every release while what they show follows the
release's schema (``title`` in release 1, ``name`` in release 2).
"""

from __future__ import annotations

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


def as_json(book: models.Model) -> dict[str, Any]:
    return {"id": book.pk, **{f.name: f.value_from_object(book) for f in fields()}}


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
    query = book_model().objects.order_by("-pk")
    books = list(query[:limit] if limit is not None else query)
    return {
        "release": settings.RELEASE,
        "colour": settings.COMPAT_VIEWS_COLOUR,
        "relation": source_relation(),
        "fields": ["id", *(f.name for f in fields())],
        "count": query.count() if limit is not None else len(books),
        "books": [as_json(book) for book in reversed(books)],
    }


def _check_known(item: dict[str, Any]) -> None:
    """Keys the release does not know are an error rather than ignored, so a client speaking
    the other release's shape (``name`` to release 1) fails loudly."""
    known = {f.name for f in fields()}
    unknown = sorted(set(item) - known)
    if unknown:
        raise ValidationError(
            {key: f"unknown field; this release knows {sorted(known)}" for key in unknown}
        )


def create(item: dict[str, Any]) -> dict[str, Any]:
    """Validate and save a new book through the ORM, as any Django view would."""
    _check_known(item)
    book = book_model()(**item)
    book.full_clean()
    book.save()
    return as_json(book)


def get(pk: int) -> dict[str, Any]:
    """One book; raises ``DoesNotExist`` for an unknown id."""
    return as_json(book_model().objects.get(pk=pk))


def update(pk: int, changes: dict[str, Any]) -> dict[str, Any]:
    """Change some fields of a book: ``select_for_update`` + ``save()``, the ORM's usual
    read-modify-write, so the legacy colour's UPDATE goes through its view."""
    _check_known(changes)
    with transaction.atomic():
        book = book_model().objects.select_for_update().get(pk=pk)
        for name, value in changes.items():
            setattr(book, name, value)
        book.full_clean()
        book.save()
    return as_json(book)
