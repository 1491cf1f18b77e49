from tests.harness import columns, leftovers, migrate, rows


def test_rename_expand(db):
    migrate("library", "0001")
    rows("INSERT INTO library_book (isbn, title, price_cents, stock) VALUES ('1', 'a', 1, 1)")
    migrate("library", "0002")
    assert columns("library_book") == ["id", "isbn", "name", "price_cents", "stock"]
    assert rows("SELECT title FROM library_book", alias="legacy") == [("a",)]
    assert leftovers()["schemas"] == ["compat_blue"]
