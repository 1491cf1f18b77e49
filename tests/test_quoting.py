"""Names that need quoting go through the whole lifecycle."""

import psycopg

from tests.harness import applied, compat, leftovers, migrate

TABLE = '"Odd ""Book"" Table"'


def session(conninfo: str, colour: str | None):
    options = f"-c search_path=compat_{colour},public" if colour else ""
    return psycopg.connect(conninfo, autocommit=True, options=options)


def table_columns(conn) -> list[str]:
    return [
        r[0]
        for r in conn.execute(
            "SELECT attname FROM pg_attribute WHERE attrelid = %s::regclass AND attnum > 0 "
            "AND NOT attisdropped ORDER BY attnum",
            [f"public.{TABLE}"],
        )
    ]


def test_quoted_names_lifecycle(db, conninfo):
    migrate("oddnames", "0001")
    with session(conninfo, "blue") as blue, session(conninfo, None) as plain:
        blue.execute(f'INSERT INTO {TABLE} ("select", "MixedCase") VALUES (1, \'one\')')

        migrate("oddnames", "0002")
        assert table_columns(plain) == ["id", "select", "order", 'we"ird col']
        blue.execute(f'INSERT INTO {TABLE} ("select", "MixedCase") VALUES (2, \'two\')')
        plain.execute(
            f'INSERT INTO {TABLE} ("select", "order", "we""ird col") VALUES (3, \'three\', 30)'
        )
        new_view = plain.execute(
            f'SELECT "select", "order", "we""ird col" FROM {TABLE} ORDER BY 1'
        ).fetchall()
        assert new_view == [(1, "one", 2), (2, "two", 4), (3, "three", 30)]
        legacy_view = blue.execute(f'SELECT * FROM {TABLE} ORDER BY "select"').fetchall()
        assert [row[1:] for row in legacy_view] == [(1, "one"), (2, "two"), (3, "three")]

        compat("rollback")
        assert table_columns(plain) == ["id", "select", "MixedCase"]
        assert blue.execute(f"SELECT count(*) FROM {TABLE}").fetchone()[0] == 3
        assert applied("oddnames") == ["0001_initial"]
        assert leftovers() == {}

        migrate("oddnames", "0002")
        assert plain.execute(f'SELECT sum("we""ird col") FROM {TABLE}').fetchone()[0] == 12
    compat("complete")
    assert leftovers() == {}
    with session(conninfo, None) as plain:
        assert table_columns(plain) == ["id", "select", "order", 'we"ird col']
        assert plain.execute(
            "SELECT is_nullable FROM information_schema.columns WHERE column_name = 'we\"ird col'"
        ).fetchone() == ("NO",)
