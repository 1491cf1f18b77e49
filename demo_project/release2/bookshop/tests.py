"""Release 2's own tests: the books page, the JSON API and the ORM paths the shop relies on.

In release 2's shape: ``name``, a decimal ``price`` (a string in JSON, as Django encodes
decimals) and a ``slug`` the model fills in from the name. ``compat rehearse --reverse``
runs them as the new colour on the expanded database, so nothing here may depend on ids,
sequences or which relation ``bookshop_book`` resolves to.
"""

from decimal import Decimal

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

FIELDS = ["id", "name", "price", "isbn", "slug"]
DUNE = {"name": "Dune", "price": "9.99", "isbn": "978-0441013593"}
RELEASE_IT = {"name": "Release It!", "price": "34.50", "isbn": "978-1680502398"}
EMMA = {"name": "Emma", "price": "5.00", "isbn": "978-0141439587"}


def as_json(book: Book) -> dict:
    """What the API must answer for ``book``: its price as a string with its two places."""
    answer = {name: getattr(book, name) for name in FIELDS}
    return answer | {"price": str(Decimal(answer["price"]).quantize(Decimal("0.01")))}


class Books(Shelf):
    """Release 2's books for the shared tests: two in stock, their slugs made by the model."""

    release = "release 2"
    fields = FIELDS
    stock = (DUNE, RELEASE_IT)
    spare = EMMA
    answer = staticmethod(as_json)


class BooksPage(Books, PageContract, TestCase):
    def test_shows_only_the_newest_page_of_books(self):
        Book.objects.bulk_create(
            Book(name=f"Volume {n}", price=n, isbn=f"isbn-{n}", slug=f"volume-{n}")
            for n in range(1, 52)
        )

        response = self.client.get("/books/")

        self.assertContains(response, "51 books, the newest 50 below.")
        self.assertContains(response, "<td>Volume 51</td>")
        self.assertNotContains(response, "<td>Volume 1</td>")

    def test_the_form_adds_a_book_and_slugs_its_name(self):
        form = {"name": "Refactoring Databases", "price": "49.99", "isbn": "978-0321293534"}

        response = self.client.post("/books/", {**form, "slug": ""})

        self.assertRedirects(response, "/books/")
        self.assertEqual(
            list(Book.objects.values_list("name", "price", "isbn", "slug")),
            [
                (
                    "Refactoring Databases",
                    Decimal("49.99"),
                    "978-0321293534",
                    "refactoring-databases",
                )
            ],
        )

    def test_the_form_refuses_a_fraction_of_a_cent(self):
        response = self.client.post("/books/", {"name": "X", "price": "1.005", "isbn": "x"})

        self.assertEqual(response.status_code, 200)
        self.assertContains(response, "Ensure that there are no more than 2 decimal places.")
        self.assertFalse(Book.objects.exists())


class BooksApi(Books, ApiContract, TestCase):
    def test_creates_a_book_with_the_slug_of_its_name(self):
        status, answer = call(self.client, "POST", "/api/books/", RELEASE_IT)

        self.assertEqual(status, 201)
        book = Book.objects.get()
        self.assertEqual(answer, {"id": book.pk, **RELEASE_IT, "slug": "release-it"})
        self.assertEqual(as_json(book), answer)

    def test_keeps_a_slug_it_is_given(self):
        status, answer = call(self.client, "POST", "/api/books/", {**DUNE, "slug": "dune-1965"})

        self.assertEqual((status, answer["slug"]), (201, "dune-1965"))
        self.assertEqual(Book.objects.get().slug, "dune-1965")

    def test_refuses_release_1s_fields(self):
        item = {"title": "Dune", "price_cents": 999, "isbn": "978-0441013593", "format": "ebook"}

        status, answer = call(self.client, "POST", "/api/books/", item)

        known = "this release knows ['isbn', 'name', 'price', 'slug']"
        self.assertEqual(
            (status, answer),
            (
                400,
                {
                    "errors": {
                        field: [f"unknown field; {known}"]
                        for field in ("format", "price_cents", "title")
                    }
                },
            ),
        )
        self.assertFalse(Book.objects.exists())

    def test_validates_like_the_model(self):
        self.shelf()
        item = {"price": "cheap", "isbn": EMMA["isbn"]}

        status, answer = call(self.client, "POST", "/api/books/", item)

        self.assertEqual(status, 400)
        self.assertEqual(
            answer,
            {
                "errors": {
                    "name": ["This field cannot be blank."],
                    "price": ["“cheap” value must be a decimal number."],
                }
            },
        )
        self.assertEqual(Book.objects.count(), 2)

    def test_patch_changes_the_given_fields_and_keeps_the_slug(self):
        dune = self.shelf()[0]

        status, answer = call(
            self.client, "PATCH", f"/api/books/{dune.pk}/", {"name": "Dune Messiah", "price": "12"}
        )

        expected = as_json(dune) | {"name": "Dune Messiah", "price": "12", "slug": "dune"}
        self.assertEqual((status, answer), (200, expected))
        dune.refresh_from_db()
        self.assertEqual(as_json(dune), expected | {"price": "12.00"})

    def test_a_refused_patch_changes_nothing(self):
        dune = self.shelf()[0]

        status, answer = call(
            self.client, "PATCH", f"/api/books/{dune.pk}/", {"slug": "not a slug"}
        )

        self.assertEqual(status, 400)
        self.assertEqual(list(answer["errors"]), ["slug"])
        self.assertEqual(Book.objects.get(pk=dune.pk).slug, "dune")


class BookOrm(Books, OrmContract, TestCase):
    def test_create_returns_the_stored_row(self):
        book = Book.objects.create(**DUNE)

        self.assertEqual(book.slug, "dune")
        self.assertEqual(as_json(Book.objects.get(isbn=DUNE["isbn"])), as_json(book))

    def test_bulk_create_sets_every_key(self):
        books = Book.objects.bulk_create(
            Book(name=f"Volume {n}", price=Decimal(n), isbn=f"v{n}", slug=f"v-{n}")
            for n in (1, 2, 3)
        )

        self.assertTrue(all(book.pk for book in books))
        self.assertEqual(
            list(
                Book.objects.filter(pk__in=[b.pk for b in books])
                .order_by("pk")
                .values_list("name", "price")
            ),
            [("Volume 1", Decimal(1)), ("Volume 2", Decimal(2)), ("Volume 3", Decimal(3))],
        )

    def test_bulk_create_updates_on_a_conflicting_isbn(self):
        dune = self.shelf()[0]

        Book.objects.bulk_create(
            [Book(**{**DUNE, "price": "15.00"}), Book(**EMMA, slug="emma")],
            update_conflicts=True,
            unique_fields=["isbn"],
            update_fields=["price"],
        )

        self.assertEqual(Book.objects.count(), 3)
        self.assertEqual(Book.objects.get(pk=dune.pk).price, Decimal("15.00"))
        self.assertEqual(
            list(Book.objects.filter(isbn=EMMA["isbn"]).values_list("name", "price", "slug")),
            [("Emma", Decimal("5.00"), "emma")],
        )

    def test_update_with_f_reprices_in_the_database(self):
        dune, release_it = self.shelf()

        changed = Book.objects.filter(slug="dune").update(price=F("price") * 2)

        self.assertEqual(changed, 1)
        self.assertEqual(
            dict(Book.objects.values_list("isbn", "price")),
            {dune.isbn: Decimal("19.98"), release_it.isbn: Decimal("34.50")},
        )

    def test_select_for_update_then_save_in_one_transaction(self):
        dune = self.shelf()[0]

        with transaction.atomic():
            locked = Book.objects.select_for_update().get(pk=dune.pk)
            locked.name = "Dune Messiah"
            locked.slug = ""
            locked.save()

        self.assertEqual(
            Book.objects.values_list("name", "slug").get(pk=dune.pk),
            ("Dune Messiah", "dune-messiah"),
        )

    def test_delete_removes_the_row(self):
        dune, release_it = self.shelf()

        deleted, _ = Book.objects.filter(name__startswith="Dune").delete()

        self.assertEqual(deleted, 1)
        self.assertEqual(list(Book.objects.values_list("pk", flat=True)), [release_it.pk])
        release_it.delete()
        self.assertFalse(Book.objects.exists())

    def test_aggregates(self):
        self.shelf()
        Book.objects.create(**{**EMMA, "name": "Dune Messiah", "price": "9.99"})

        self.assertEqual(
            Book.objects.aggregate(
                n=Count("id"), total=Sum("price"), low=Min("price"), high=Max("name")
            ),
            {"n": 3, "total": Decimal("54.48"), "low": Decimal("9.99"), "high": "Release It!"},
        )
        self.assertEqual(
            Book.objects.filter(name__startswith="Release").aggregate(avg=Avg("price")),
            {"avg": Decimal("34.50")},
        )
        self.assertEqual(
            list(Book.objects.values("price").annotate(n=Count("id")).order_by("price")),
            [{"price": Decimal("9.99"), "n": 2}, {"price": Decimal("34.50"), "n": 1}],
        )

    def test_raw_sql_names_release_2s_columns(self):
        dune, release_it = self.shelf()

        with connection.cursor() as cursor:
            cursor.execute("UPDATE bookshop_book SET price = price * 2 WHERE slug = %s", ["dune"])
            cursor.execute("SELECT name, price, slug FROM bookshop_book ORDER BY price")
            rows = cursor.fetchall()
        raw = Book.objects.raw("SELECT id, name FROM bookshop_book WHERE price > %s", [20])

        self.assertEqual(
            rows,
            [("Dune", Decimal("19.98"), "dune"), ("Release It!", Decimal("34.50"), "release-it")],
        )
        self.assertEqual([(b.pk, b.name) for b in raw], [(release_it.pk, "Release It!")])


class ConcurrentSessions(Books, SessionContract, TransactionTestCase):
    """Real commits, and a second connection from another thread, as under gunicorn."""

    def test_a_book_another_thread_writes_is_served(self):
        pk = in_thread(lambda: Book.objects.create(**EMMA).pk)

        self.assertEqual(
            call(self.client, "GET", f"/api/books/{pk}/"),
            (200, {"id": pk, **EMMA, "slug": "emma"}),
        )
