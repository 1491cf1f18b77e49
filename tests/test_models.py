"""RenameCompatModel and RemoveCompatModel through the whole lifecycle.

Release 1 of the shelf app has Author, Book (a foreign key to Author) and Tag (a
many-to-many to Book); release 2 (``shelf.0002``) renames Author to Writer, its
``name`` to ``full_name``, and removes Tag. The legacy colour keeps using
``shelf_author``, ``shelf_tag`` and ``shelf_tag_books`` through the whole rollout.
"""

from __future__ import annotations

import time

import psycopg
import pytest
from django.core.management import call_command
from django.db import connections
from django.test import override_settings

from compat_views.errors import InvalidOperation
from compat_views.operations import RemoveCompatModel, RenameCompatModel
from tests.harness import (
    ColourWriter,
    applied,
    apply_operations,
    apps_at,
    compat,
    leftovers,
    migrate,
    rows,
)

SHELF = "shelf_%"


def shelf_catalog() -> dict:
    """The shelf tables as plain Django and a completed rollout must agree on them."""
    return {
        "tables": rows(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename LIKE %s "
            "ORDER BY 1",
            [SHELF],
        ),
        "columns": rows(
            "SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull, "
            "a.attidentity FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid "
            "WHERE c.relname LIKE %s AND c.relkind = 'r' AND a.attnum > 0 "
            "AND NOT a.attisdropped ORDER BY 1, 2",
            [SHELF],
        ),
        "constraints": rows(
            "SELECT c.relname, k.conname, pg_get_constraintdef(k.oid) FROM pg_constraint k "
            "JOIN pg_class c ON c.oid = k.conrelid WHERE c.relname LIKE %s ORDER BY 1, 2",
            [SHELF],
        ),
        "indexes": rows(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename LIKE %s ORDER BY 1",
            [SHELF],
        ),
    }


def plain_shelf_catalog() -> dict:
    """shelf.0002 applied as plain RenameModel / RenameField / DeleteModel; then undone."""
    with override_settings(COMPAT_VIEWS_PLAIN_MIGRATIONS=True):
        migrate("shelf", "0002")
        result = shelf_catalog()
        migrate("shelf", "zero")
    return result


def test_rename_and_remove_models_lifecycle(db, capsys):
    expected = plain_shelf_catalog()
    migrate("shelf", "0001")
    before = shelf_catalog()
    release1, release2 = apps_at("shelf", "0001_initial"), apps_at("shelf", "0002_writer_no_tags")
    Author = release1.get_model("shelf", "Author")
    LegacyBook = release1.get_model("shelf", "Book").objects.using("legacy")
    LegacyTag = release1.get_model("shelf", "Tag").objects.using("legacy")
    Writer = release2.get_model("shelf", "Writer").objects.using("default")
    NewBook = release2.get_model("shelf", "Book").objects.using("default")
    ann = Author.objects.using("legacy").create(name="Ann")
    dune = LegacyBook.create(title="Dune", author=ann)
    LegacyTag.create(label="sf").books.add(dune)

    migrate("shelf", "0002")  # expand
    call_command("compat", "status")
    status = capsys.readouterr().out
    assert "public.shelf_writer (legacy name shelf_author): id, name -> full_name" in status
    assert "rename_table shelf_writer shelf_author -> shelf_writer" in status
    assert "remove_table shelf_tag" in status and "DRIFT" not in status
    assert rows(
        "SELECT to_regclass('public.shelf_author'), to_regclass('public.shelf_writer')"
    ) == [(None, "shelf_writer")]
    # The legacy colour still has its Author, Book and Tag, and writes all three.
    bob = Author.objects.using("legacy").create(name="Bob")
    emma = LegacyBook.create(title="Emma", author=bob)
    LegacyTag.create(label="classic").books.add(emma)
    assert Author.objects.using("legacy").filter(name="Ann").update(name="Ann A.") == 1
    # The new colour sees the same writers under their new names, and writes its own.
    cy = Writer.create(full_name="Cy")
    NewBook.create(title="Ulysses", author=cy)
    assert sorted(Writer.values_list("full_name", flat=True)) == ["Ann A.", "Bob", "Cy"]
    assert sorted(NewBook.values_list("author__full_name", flat=True)) == ["Ann A.", "Bob", "Cy"]
    legacy_authors = Author.objects.using("legacy")
    assert sorted(legacy_authors.values_list("name", flat=True)) == ["Ann A.", "Bob", "Cy"]
    assert sorted(LegacyTag.values_list("label", flat=True)) == ["classic", "sf"]
    assert LegacyBook.get(title="Ulysses").author.name == "Cy"

    compat("rollback")
    assert shelf_catalog() == before
    assert leftovers() == {}
    assert applied("shelf") == ["0001_initial"]
    assert sorted(legacy_authors.values_list("name", flat=True)) == ["Ann A.", "Bob", "Cy"]
    assert LegacyTag.get(label="classic").books.get().title == "Emma"

    migrate("shelf", "0002")
    Author.objects.using("legacy").create(name="Dee")
    compat("complete")
    assert shelf_catalog() == expected
    assert leftovers() == {}
    assert sorted(Writer.values_list("full_name", flat=True)) == ["Ann A.", "Bob", "Cy", "Dee"]
    assert NewBook.count() == 3


def test_migrating_backwards_undoes_the_model_operations(db):
    migrate("shelf", "0001")
    before = shelf_catalog()
    migrate("shelf", "0002")
    migrate("shelf", "0001")
    assert shelf_catalog() == before
    assert leftovers() == {}


@pytest.mark.parametrize(
    "operation, message",
    [
        (RenameCompatModel("Book", "Novel"), r"many-to-many tables \['shelf_tag_books'\]"),
        (RenameCompatModel("Tag", "Label"), r"many-to-many tables \['shelf_tag_books'\]"),
        (RenameCompatModel("Nosuch", "Other"), "has no model 'Nosuch'"),
        (RemoveCompatModel("Nosuch"), "has no model 'Nosuch'"),
    ],
)
def test_model_operations_refuse_what_they_cannot_do(db, operation, message):
    migrate("shelf", "0001")
    before = shelf_catalog(), leftovers()
    with pytest.raises(InvalidOperation, match=message):
        apply_operations([operation], "shelf", "0001_initial")
    assert (shelf_catalog(), leftovers()) == before


def test_rename_to_an_existing_table_is_refused(db):
    migrate("shelf", "0001")
    rows("CREATE TABLE shelf_writer (id int)")
    before = shelf_catalog()
    with pytest.raises(InvalidOperation, match="shelf_writer already exists"):
        apply_operations([RenameCompatModel("Author", "Writer")], "shelf", "0001_initial")
    assert shelf_catalog() == before


class AuthorWriter(ColourWriter):
    """Adds an author and a book by them, under the table names of its colour's release."""

    def step(self, conn: psycopg.Connection, n: int) -> None:
        table, column = (
            ("shelf_author", "name") if self.colour == "blue" else ("shelf_writer", "full_name")
        )
        (author,) = conn.execute(
            f"INSERT INTO {table} ({column}) VALUES (%s) RETURNING id", [f"{self.name}-{n}"]
        ).fetchone()
        conn.execute("INSERT INTO shelf_book (title, author_id) VALUES ('t', %s)", [author])
        self.inserted += 1


def run_writer(conninfo: str, colour: str, during: str, action) -> AuthorWriter:
    writer = AuthorWriter(conninfo, colour, f"{colour}-during-{during}")
    writer.start()
    time.sleep(0.2)
    action()
    time.sleep(0.2)
    writer.finish()
    assert writer.errors == [] and writer.inserted > 0
    return writer


def test_writers_keep_writing_through_rename_rollback_and_complete(db, conninfo):
    migrate("shelf", "0001")
    expand = lambda: migrate("shelf", "0002")  # noqa: E731
    written = run_writer(conninfo, "blue", "expand", expand).inserted
    written += run_writer(conninfo, "blue", "rollback", lambda: compat("rollback")).inserted
    written += run_writer(conninfo, "blue", "expand-again", expand).inserted
    connections["legacy"].close()
    written += run_writer(conninfo, "green", "complete", lambda: compat("complete")).inserted
    assert rows("SELECT count(*), count(DISTINCT full_name) FROM shelf_writer") == [
        (written, written)
    ]
    assert rows("SELECT count(*) FROM shelf_book b JOIN shelf_writer w ON w.id = b.author_id") == [
        (written,)
    ]
    assert leftovers() == {}


def test_sqlmigrate_shows_the_table_rename(db, capsys):
    migrate("shelf", "0001")
    call_command("sqlmigrate", "shelf", "0002")
    out = capsys.readouterr().out
    assert 'ALTER TABLE "public"."shelf_author" RENAME TO "shelf_writer"' in out
    assert leftovers() == {}
    assert rows("SELECT to_regclass('public.shelf_author')") == [("shelf_author",)]
