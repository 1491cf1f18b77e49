"""Release 1's own tests: the books page, the JSON API and the ORM paths the shop relies on.

Written as the team would before any rollout, in release 1's shape (``title``,
``price_cents``, ``format``). ``compat rehearse`` runs them again, unchanged, as the legacy
colour on a database release 2 has expanded, so nothing here may depend on ids, sequences
or which relation ``bookshop_book`` resolves to.
"""

from django.db import connection, transaction
from django.db.models import Avg, Count, F, Max, Min, Sum
from django.test import TestCase, TransactionTestCase

from bookshop.models import Book
from demo_project.common.testing import (
    ApiContract,
    OrmContract,
    PageContract,
    SessionContract,
    Shelf,
    call,
    in_thread,
)

FIELDS = ["id", "title", "price_cents", "isbn", "format"]
DUNE = {"title": "Dune", "price_cents": 999, "isbn": "978-0441013593", "format": "ebook"}
RELEASE_IT = {
    "title": "Release It!",
    "price_cents": 3450,
    "isbn": "978-1680502398",
    "format": "paperback",
}
EMMA = {"title": "Emma", "price_cents": 500, "isbn": "978-0141439587", "format": "paperback"}


def as_json(book: Book) -> dict:
    """What the API must answer for ``book``."""
    return {name: getattr(book, name) for name in FIELDS}


class Books(Shelf):
    """Release 1's books for the shared tests: an ebook and a paperback in stock."""

    release = "release 1"
    fields = FIELDS
    stock = (DUNE, RELEASE_IT)
    spare = EMMA
    answer = staticmethod(as_json)


class BooksPage(Books, PageContract, TestCase):
    def test_shows_only_the_newest_page_of_books(self):
        Book.objects.bulk_create(
            Book(title=f"Volume {n}", price_cents=n, isbn=f"isbn-{n}", format="ebook")
            for n in range(1, 52)
        )

        response = self.client.get("/books/")

        self.assertContains(response, "51 books, the newest 50 below.")
        self.assertContains(response, "<td>Volume 51</td>")
        self.assertNotContains(response, "<td>Volume 1</td>")

    def test_the_form_adds_a_book(self):
        form = {"title": "Refactoring", "price_cents": "4999", "isbn": "978-0134757599"}

        response = self.client.post("/books/", {**form, "format": "hardcover"})

        self.assertRedirects(response, "/books/")
        self.assertEqual(
            list(Book.objects.values_list("title", "price_cents", "isbn", "format")),
            [("Refactoring", 4999, "978-0134757599", "hardcover")],
        )

    def test_the_form_refuses_an_unknown_format(self):
        response = self.client.post(
            "/books/", {"title": "X", "price_cents": "1", "isbn": "x", "format": "audiobook"}
        )

        self.assertEqual(response.status_code, 200)
        self.assertContains(response, "Select a valid choice. audiobook is not one of")
        self.assertFalse(Book.objects.exists())


class BooksApi(Books, ApiContract, TestCase):
    def test_creates_a_book(self):
        status, answer = call(self.client, "POST", "/api/books/", DUNE)

        self.assertEqual(status, 201)
        book = Book.objects.get()
        self.assertEqual(answer, {"id": book.pk, **DUNE})
        self.assertEqual(as_json(book), answer)

    def test_refuses_release_2s_fields(self):
        item = {"name": "Dune", "price": "9.99", "isbn": "978-0441013593"}

        status, answer = call(self.client, "POST", "/api/books/", item)

        known = "this release knows ['format', 'isbn', 'price_cents', 'title']"
        self.assertEqual(
            (status, answer),
            (400, {"errors": {f: [f"unknown field; {known}"] for f in ("name", "price")}}),
        )
        self.assertFalse(Book.objects.exists())

    def test_validates_like_the_model(self):
        self.shelf()
        item = {"price_cents": "cheap", "isbn": EMMA["isbn"], "format": "ebook"}

        status, answer = call(self.client, "POST", "/api/books/", item)

        self.assertEqual(status, 400)
        self.assertEqual(
            answer,
            {
                "errors": {
                    "title": ["This field cannot be blank."],
                    "price_cents": ["“cheap” value must be an integer."],
                }
            },
        )
        self.assertEqual(Book.objects.count(), 2)

    def test_patch_changes_the_given_fields_and_keeps_the_others(self):
        dune = self.shelf()[0]

        status, answer = call(
            self.client,
            "PATCH",
            f"/api/books/{dune.pk}/",
            {"price_cents": 1299, "format": "hardcover"},
        )

        expected = as_json(dune) | {"price_cents": 1299, "format": "hardcover"}
        self.assertEqual((status, answer), (200, expected))
        dune.refresh_from_db()
        self.assertEqual(as_json(dune), expected)

    def test_a_refused_patch_changes_nothing(self):
        dune = self.shelf()[0]

        status, answer = call(self.client, "PATCH", f"/api/books/{dune.pk}/", {"format": "scroll"})

        self.assertEqual(status, 400)
        self.assertEqual(list(answer["errors"]), ["format"])
        self.assertEqual(Book.objects.get(pk=dune.pk).format, "ebook")


class BookOrm(Books, OrmContract, TestCase):
    def test_create_returns_the_stored_row(self):
        book = Book.objects.create(**DUNE)

        self.assertIsNotNone(book.pk)
        self.assertEqual(as_json(Book.objects.get(isbn=DUNE["isbn"])), as_json(book))

    def test_bulk_create_sets_every_key(self):
        books = Book.objects.bulk_create(
            Book(title=f"Volume {n}", price_cents=100 * n, isbn=f"v{n}", format="paperback")
            for n in (1, 2, 3)
        )

        self.assertTrue(all(book.pk for book in books))
        self.assertEqual(
            list(
                Book.objects.filter(pk__in=[b.pk for b in books])
                .order_by("pk")
                .values_list("title", "price_cents")
            ),
            [("Volume 1", 100), ("Volume 2", 200), ("Volume 3", 300)],
        )

    def test_bulk_create_updates_on_a_conflicting_isbn(self):
        dune = self.shelf()[0]

        Book.objects.bulk_create(
            [Book(**{**DUNE, "price_cents": 1500}), Book(**EMMA)],
            update_conflicts=True,
            unique_fields=["isbn"],
            update_fields=["price_cents"],
        )

        self.assertEqual(Book.objects.count(), 3)
        self.assertEqual(Book.objects.get(pk=dune.pk).price_cents, 1500)
        self.assertEqual(list(Book.objects.filter(isbn=EMMA["isbn"]).values(*EMMA)), [EMMA])

    def test_update_with_f_reprices_in_the_database(self):
        dune, release_it = self.shelf()

        changed = Book.objects.filter(format="ebook").update(price_cents=F("price_cents") + 1)

        self.assertEqual(changed, 1)
        self.assertEqual(
            dict(Book.objects.values_list("isbn", "price_cents")),
            {dune.isbn: 1000, release_it.isbn: 3450},
        )

    def test_select_for_update_then_save_in_one_transaction(self):
        dune = self.shelf()[0]

        with transaction.atomic():
            locked = Book.objects.select_for_update().get(pk=dune.pk)
            locked.title = "Dune Messiah"
            locked.save(update_fields=["title"])

        self.assertEqual(Book.objects.get(pk=dune.pk).title, "Dune Messiah")

    def test_delete_removes_the_row(self):
        dune, release_it = self.shelf()

        deleted, _ = Book.objects.filter(format="ebook").delete()

        self.assertEqual(deleted, 1)
        self.assertEqual(list(Book.objects.values_list("pk", flat=True)), [release_it.pk])
        release_it.delete()
        self.assertFalse(Book.objects.exists())

    def test_aggregates(self):
        self.shelf()
        Book.objects.create(**{**EMMA, "price_cents": 501, "format": "ebook"})

        self.assertEqual(
            Book.objects.aggregate(
                n=Count("id"), total=Sum("price_cents"), low=Min("price_cents"), high=Max("title")
            ),
            {"n": 3, "total": 4950, "low": 501, "high": "Release It!"},
        )
        self.assertEqual(
            Book.objects.filter(format="ebook").aggregate(avg=Avg("price_cents")), {"avg": 750.0}
        )
        self.assertEqual(
            list(Book.objects.values("format").annotate(n=Count("id")).order_by("format")),
            [{"format": "ebook", "n": 2}, {"format": "paperback", "n": 1}],
        )

    def test_raw_sql_names_release_1s_columns(self):
        dune, release_it = self.shelf()

        with connection.cursor() as cursor:
            cursor.execute(
                "UPDATE bookshop_book SET price_cents = price_cents * 2 WHERE format = %s",
                ["paperback"],
            )
            cursor.execute(
                "SELECT title, price_cents, format FROM bookshop_book ORDER BY price_cents"
            )
            rows = cursor.fetchall()
        raw = Book.objects.raw("SELECT id, title FROM bookshop_book WHERE price_cents > %s", [5000])

        self.assertEqual(rows, [("Dune", 999, "ebook"), ("Release It!", 6900, "paperback")])
        self.assertEqual([(b.pk, b.title) for b in raw], [(release_it.pk, "Release It!")])


class ConcurrentSessions(Books, SessionContract, TransactionTestCase):
    """Real commits, and a second connection from another thread, as under gunicorn."""

    def test_a_book_another_thread_writes_is_served(self):
        pk = in_thread(lambda: Book.objects.create(**EMMA).pk)

        self.assertEqual(call(self.client, "GET", f"/api/books/{pk}/"), (200, {"id": pk, **EMMA}))
