"""What each release's test suite shares: the JSON API in one call, a second session, and
the tests whose outcome no release's shape changes.

The same code at every commit, like the views, so it lives once here; each release's
``bookshop/tests.py`` mixes these in and says itself only what its own shape makes true.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from django.conf import settings
from django.db import DatabaseError, IntegrityError, connections, models, transaction
from django.test import Client

from . import books

T = TypeVar("T")


def call(client: Client, method: str, url: str, body: Any = None) -> tuple[int, Any]:
    """Send ``body`` as JSON (a ``str`` as it is, to test bad bodies); return the status and
    the decoded JSON answer, as a script talking to the API sees them."""
    data = body if isinstance(body, str) else json.dumps(body)
    response = client.generic(method, url, data, content_type="application/json")
    return response.status_code, response.json()


def served_relations(table: str = "bookshop_book") -> set[str]:
    """What the page may say it reads: the base table, or, while a rollout is in flight and
    this process is its legacy colour, that colour's view. The suite is the release's own and
    passes in both cases; which one holds is ``compat rehearse``'s business, not the suite's."""
    colour = settings.COMPAT_VIEWS_COLOUR
    return {f"public.{table}", *([f"compat_{colour}.{table}"] if colour else [])}


def in_thread(work: Callable[[], T]) -> T:
    """Run ``work`` on another thread, as a threaded server runs a second request: on a
    database connection of its own, closed when it is done (its ``CONN_MAX_AGE`` would
    otherwise keep it open past the test). Its result, or its exception, comes back here."""

    def closing() -> T:
        try:
            return work()
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(closing).result()


class Shelf:
    """What the shared tests below know of a release's suite: a few books in its shape.

    A release's suite sets its ``release`` label, the API's ``fields``, ``stock`` (two
    books, the older first), ``spare`` (a third, with another ISBN) and ``answer`` (the JSON
    the API must give for a book), then mixes in the tests that read the same in every
    shape; what a shape makes true stays in its suite.
    """

    release: str
    fields: list[str]
    stock: tuple[dict[str, Any], dict[str, Any]]
    spare: dict[str, Any]
    answer: Callable[[models.Model], dict[str, Any]]

    def shelf(self) -> list[models.Model]:
        return [books.book_model().objects.create(**item) for item in self.stock]


class PageContract(Shelf):
    """The books page, in whatever columns the release has. For a ``TestCase``."""

    def test_lists_the_books_in_the_releases_columns(self):
        stock = self.shelf()

        response = self.client.get("/books/")

        self.assertContains(response, f"Served by <strong>{self.release}</strong>")
        self.assertContains(response, "".join(f"<th>{name}</th>" for name in self.fields))
        for book in stock:
            row = "".join(f"<td>{value}</td>" for value in self.answer(book).values())
            self.assertContains(response, f"<tr>{row}</tr>")
        self.assertIn(response.context["snapshot"]["relation"], served_relations())
        self.assertContains(response, "2 books.")

    def test_an_empty_shop_says_so(self):
        self.assertContains(self.client.get("/books/"), "No books yet.")


class ApiContract(Shelf):
    """The JSON API's answers that no release's shape changes. For a ``TestCase``."""

    def test_lists_every_book_oldest_first(self):
        stock = self.shelf()

        status, answer = call(self.client, "GET", "/api/books/")

        self.assertEqual(status, 200)
        self.assertIn(answer.pop("relation"), served_relations())
        self.assertEqual(
            answer,
            {
                "release": self.release,
                "colour": settings.COMPAT_VIEWS_COLOUR,
                "fields": self.fields,
                "count": 2,
                "books": [self.answer(book) for book in stock],
            },
        )

    def test_a_limit_keeps_the_newest_and_counts_them_all(self):
        newest = self.shelf()[-1]

        status, answer = call(self.client, "GET", "/api/books/?limit=1")

        self.assertEqual(
            (status, answer["count"], answer["books"]), (200, 2, [self.answer(newest)])
        )

    def test_a_limit_must_be_a_whole_number(self):
        for limit in ("ten", "-1"):
            self.assertEqual(
                call(self.client, "GET", f"/api/books/?limit={limit}"),
                (400, {"errors": {"limit": ["expected a whole number"]}}),
            )

    def test_refuses_a_duplicate_isbn(self):
        isbn = self.shelf()[0].isbn

        self.assertEqual(
            call(self.client, "POST", "/api/books/", {**self.spare, "isbn": isbn}),
            (400, {"errors": {"isbn": ["Book with this Isbn already exists."]}}),
        )
        self.assertEqual(books.book_model().objects.filter(isbn=isbn).count(), 1)

    def test_refuses_a_body_that_is_not_one_object(self):
        status, answer = call(self.client, "POST", "/api/books/", "{not json")
        self.assertEqual(status, 400)
        self.assertTrue(answer["errors"]["body"][0].startswith("not JSON: "), answer)

        self.assertEqual(
            call(self.client, "POST", "/api/books/", [self.spare]),
            (400, {"errors": {"body": ["expected one JSON object"]}}),
        )
        self.assertEqual(books.book_model().objects.count(), 0)

    def test_reads_one_book(self):
        book = self.shelf()[0]

        self.assertEqual(
            call(self.client, "GET", f"/api/books/{book.pk}/"), (200, self.answer(book))
        )

    def test_an_unknown_id_is_404(self):
        missing = max(book.pk for book in self.shelf()) + 1

        for method in ("GET", "PATCH"):
            self.assertEqual(
                call(self.client, method, f"/api/books/{missing}/", {}),
                (404, {"errors": {"id": ["no such book"]}}),
            )

    def test_books_cannot_be_deleted_through_the_api(self):
        book = self.shelf()[0]

        response = self.client.delete(f"/api/books/{book.pk}/")

        self.assertEqual(response.status_code, 405)
        self.assertTrue(books.book_model().objects.filter(pk=book.pk).exists())


class OrmContract(Shelf):
    """ORM paths whose outcome no release's shape changes. For a ``TestCase``."""

    def test_get_or_create_finds_what_it_created(self):
        manager = books.book_model().objects
        first, created = manager.get_or_create(isbn=self.spare["isbn"], defaults=self.spare)
        again, created_again = manager.get_or_create(isbn=self.spare["isbn"])

        self.assertEqual((created, created_again), (True, False))
        self.assertEqual(self.answer(again), self.answer(first))

    def test_the_isbn_is_unique(self):
        isbn = self.shelf()[0].isbn

        with self.assertRaises(IntegrityError), transaction.atomic():
            books.book_model().objects.create(**{**self.spare, "isbn": isbn})
        self.assertEqual(books.book_model().objects.filter(isbn=isbn).count(), 1)


class SessionContract(Shelf):
    """Two sessions at once, each its own connection: for a ``TransactionTestCase``, whose
    commits are real, so another thread sees them."""

    def test_another_session_sees_a_book_only_once_committed(self):
        manager = books.book_model().objects

        with transaction.atomic():
            manager.create(**self.spare)
            seen_before_commit = in_thread(manager.count)
        self.assertEqual((seen_before_commit, in_thread(manager.count)), (0, 1))

    def test_a_locked_book_is_refused_or_skipped_by_another_session(self):
        locked, free = self.shelf()
        manager = books.book_model().objects

        def nowait() -> None:
            with transaction.atomic():
                manager.select_for_update(nowait=True).get(pk=locked.pk)

        def skip_locked() -> list[int]:
            with transaction.atomic():
                return [book.pk for book in manager.select_for_update(skip_locked=True)]

        with transaction.atomic():
            manager.select_for_update().get(pk=locked.pk)
            with self.assertRaises(DatabaseError):
                in_thread(nowait)
            self.assertEqual(in_thread(skip_locked), [free.pk])

    def test_a_failed_transaction_leaves_no_book(self):
        manager = books.book_model().objects

        with self.assertRaises(IntegrityError), transaction.atomic():
            manager.create(**self.spare)
            manager.create(**{**self.stock[0], "isbn": self.spare["isbn"]})

        self.assertFalse(in_thread(manager.exists))
