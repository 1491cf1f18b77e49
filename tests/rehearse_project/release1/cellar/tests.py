"""Release 1's own suite, which ``compat rehearse`` runs on the plain, expanded and rolled
back database: ORM reads and writes, fixtures, committed writes from a thread, and the
colour of every connection."""

import threading

from django.db import connection, connections
from django.test import TestCase, TransactionTestCase

from cellar.models import Bottle, Shelf
from compat_views import conf


def search_path() -> tuple[str, list[str]]:
    """This thread's connection's search_path setting, and the schemas it resolves in."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_catalog.current_setting('search_path'), pg_catalog.current_schemas(false)"
        )
        return cursor.fetchone()


def legacy_schema_exists() -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_namespace WHERE nspname = %s", [f"compat_{conf.colour()}"]
        )
        return cursor.fetchone()[0] == 1


class Bottles(TestCase):
    def test_label_round_trip(self):
        shelf = Shelf.objects.create(name="left")
        Bottle.objects.create(label="Rioja", vintage="2015", shelf=shelf)
        Bottle.objects.filter(label="Rioja").update(label="Rioja Reserva")
        self.assertEqual(
            list(Bottle.objects.values_list("label", "shelf__name")), [("Rioja Reserva", "left")]
        )

    def test_vintage_year(self):
        Bottle.objects.create(label="Barolo", vintage="2010")
        self.assertEqual(Bottle.objects.get().vintage, "2010")

    def test_non_vintage(self):
        Bottle.objects.create(label="Champagne", vintage="NV")
        self.assertEqual(Bottle.objects.get().vintage, "NV")


class Fixtures(TestCase):
    """loaddata moves the sequence past the loaded keys, also behind a legacy view."""

    fixtures = ["bottles"]

    def test_new_rows_take_the_keys_after_the_fixtures(self):
        shelf = Shelf.objects.create(name="new")
        bottle = Bottle.objects.create(label="Cava", vintage="2020", shelf=shelf)
        self.assertEqual((shelf.pk, bottle.pk), (4, 11))


class Committed(TransactionTestCase):
    """Rows committed by the test and by a thread: each test starts from an empty table
    only if flush empties the tables behind the legacy views too."""

    def write_from_thread(self, label: str) -> list[tuple[str, list[str]]]:
        """Write a bottle from a thread of its own; its connection's ``search_path()``."""
        seen = []

        def write():
            shelf = Shelf.objects.create(name=label)
            Bottle.objects.create(label=label, vintage="1999", shelf=shelf)
            seen.append(search_path())
            connections.close_all()

        thread = threading.Thread(target=write)
        thread.start()
        thread.join()
        return seen

    def test_a_thread_writes(self):
        self.assertEqual(Bottle.objects.count(), 0)
        self.write_from_thread("from a thread")
        self.assertEqual(list(Bottle.objects.values_list("label", flat=True)), ["from a thread"])

    def test_b_the_table_was_emptied(self):
        self.assertEqual(Bottle.objects.count(), 0)
        self.write_from_thread("again")
        self.assertEqual(Bottle.objects.count(), 1)

    def test_every_connection_is_the_legacy_colour(self):
        """This connection's and a thread's search_path start with the legacy schema; while
        expanded, they resolve names there first (Bottle's table is its view)."""
        legacy = f"compat_{conf.colour()}"
        expanded = legacy_schema_exists()
        paths = [search_path(), *self.write_from_thread("colour")]
        self.assertEqual(len(paths), 2)  # the thread's write went through
        for setting, schemas in paths:
            self.assertTrue(setting.startswith(f"{legacy}, "), setting)
            self.assertEqual(schemas[0] == legacy, expanded, schemas)
        with connection.cursor() as cursor:
            cursor.execute("SELECT relkind FROM pg_class WHERE oid = 'cellar_bottle'::regclass")
            self.assertEqual(cursor.fetchone()[0], "v" if expanded else "r")
