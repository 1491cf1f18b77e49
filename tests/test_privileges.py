"""The lifecycle with production roles, none of them a superuser.

Release 1 was migrated by the app role, which therefore owns the table; release 2
is migrated by another role (a member of the owner, as on managed Postgres).
Each colour's application runs as a DML-only role, a reporting role holds
column-level grants, and the owner itself serves the legacy colour too. Every
role must read and write its own shape correctly, and hold no privilege during
or after the rollout that it did not hold before.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal

import psycopg
import pytest
from django.db import connections, models
from psycopg import errors
from psycopg.conninfo import make_conninfo

from compat_views import status
from compat_views.errors import InvalidOperation
from compat_views.operations import AlterCompatColumn, RemoveCompatColumn, RenameCompatColumn
from tests.harness import apply_operations, compat, leftovers, migrate, wait_gone

PASSWORD = "compat-views-test"
OWNER, MIGRATOR, BLUE, GREEN, REPORT, LATE = (
    "cv_owner",
    "cv_migrator",
    "cv_blue_app",
    "cv_green_app",
    "cv_report",
    "cv_late",
)
ROLES = (OWNER, MIGRATOR, BLUE, GREEN, REPORT, LATE)
TABLE_PRIVILEGES = ("SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE", "REFERENCES", "TRIGGER")
COLUMN_PRIVILEGES = ("SELECT", "INSERT", "UPDATE", "REFERENCES")

# grams (int) become kilograms (numeric) under the same column name: the change that
# stored wrong values silently when a legacy role could not see its views.
KILOGRAMS = AlterCompatColumn(
    "item",
    "qty",
    models.DecimalField(max_digits=12, decimal_places=3),
    up="qty / 1000.0",
    down="round(qty * 1000)",
)


@contextmanager
def session(conninfo: str, role: str, colour: str | None = None) -> Iterator[psycopg.Connection]:
    """A raw session of ``role`` in ``colour``; gone from pg_stat_activity when closed."""
    options = f"-c search_path=compat_{colour},public" if colour else ""
    conn = psycopg.connect(
        make_conninfo(conninfo, user=role, password=PASSWORD),
        autocommit=True,
        options=options,
        application_name=f"compat_{colour}:{role}" if colour else role,
    )
    pid = conn.info.backend_pid
    try:
        yield conn
    finally:
        conn.close()
        wait_gone([pid])


def use_role(alias: str, role: str) -> None:
    connections[alias].close()
    connections[alias].settings_dict.update(USER=role, PASSWORD=PASSWORD)


def create_roles(conninfo: str, db: str) -> None:
    """The roles, with what the owner and the migrating role need of the database."""
    with psycopg.connect(conninfo, autocommit=True) as su:
        for role in ROLES:
            su.execute(
                f"DO $$ BEGIN CREATE ROLE {role} LOGIN PASSWORD '{PASSWORD}'; "
                "EXCEPTION WHEN duplicate_object THEN END $$"
            )
        su.execute(f"GRANT {OWNER} TO {MIGRATOR}")
        su.execute(f"GRANT CREATE ON DATABASE {db} TO {MIGRATOR}")
        su.execute(f"GRANT CREATE, USAGE ON SCHEMA public TO {OWNER}, {MIGRATOR}")
        # Django's and compat_views' own bookkeeping tables.
        su.execute(f"GRANT ALL ON ALL TABLES IN SCHEMA public TO {OWNER}, {MIGRATOR}")
        su.execute(f"GRANT ALL ON ALL SEQUENCES IN SCHEMA public TO {OWNER}, {MIGRATOR}")


@pytest.fixture
def roles(db, conninfo):
    """The roles, and what each had before the rollout: release 1 migrated as the owner."""
    create_roles(conninfo, db)
    use_role("default", OWNER)
    migrate("inventory", "0001")
    with session(conninfo, OWNER) as owner:
        owner.execute("ALTER TABLE inventory_item ALTER COLUMN id SET GENERATED ALWAYS")
        owner.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON inventory_item TO {BLUE}, {GREEN}")
        owner.execute(f"GRANT SELECT (id, sku, qty) ON inventory_item TO {REPORT}")
        owner.execute(
            "INSERT INTO inventory_item (sku, qty, price_cents, code) "
            "VALUES ('seed', 1000, 1, 'a'), ('secret', 2000, 1, 'b')"
        )
    use_role("default", MIGRATOR)
    yield
    connections.close_all()


def privileges(conninfo: str, relation: str, columns: list[str]) -> set[tuple]:
    """(role, column or None, privilege) that each test role holds on a relation."""
    with psycopg.connect(conninfo, autocommit=True) as su:
        held = set()
        for role in ROLES:
            for privilege in TABLE_PRIVILEGES:
                query = "SELECT has_table_privilege(%s, %s, %s)"
                if su.execute(query, [role, relation, privilege]).fetchone()[0]:
                    held.add((role, None, privilege))
            for column in columns:
                for privilege in COLUMN_PRIVILEGES:
                    query = "SELECT has_column_privilege(%s, %s, %s, %s)"
                    if su.execute(query, [role, relation, column, privilege]).fetchone()[0]:
                        held.add((role, column, privilege))
        return held


COLUMNS = ["id", "sku", "qty", "price_cents", "attrs", "note", "code"]


def expand() -> None:
    apply_operations([KILOGRAMS], "inventory", "0001_initial")


def assert_both_colours_work(conninfo: str, run: int) -> None:
    """Each legacy role writes grams and reads grams; each new role sees kilograms."""
    for legacy, new in ((OWNER, GREEN), (BLUE, GREEN), (BLUE, OWNER)):
        with session(conninfo, legacy, "blue") as blue, session(conninfo, new, "green") as green:
            sku = f"{legacy}-{new}-{run}"
            # No id: the identity is GENERATED ALWAYS and the role has no sequence grant.
            blue.execute(
                "INSERT INTO inventory_item (sku, qty, price_cents, code) "
                "VALUES (%s, 1500, 1, 'c')",
                [sku],
            )
            query = "SELECT qty FROM inventory_item WHERE sku = %s"
            assert green.execute(query, [sku]).fetchone() == (Decimal("1.500"),)
            assert blue.execute(query, ["seed"]).fetchone() == (1000,)
            assert green.execute(query, ["seed"]).fetchone() == (Decimal("1.000"),)
            green.execute(
                "INSERT INTO inventory_item (sku, qty, price_cents, code) VALUES (%s, 2.5, 1, 'd')",
                [sku + "-new"],
            )
            assert blue.execute(query, [sku + "-new"]).fetchone() == (2500,)
            blue.execute("UPDATE inventory_item SET qty = qty + 1 WHERE sku = %s", [sku])
            assert green.execute(query, [sku]).fetchone() == (Decimal("1.501"),)


def test_roles_read_and_write_their_shape_and_gain_nothing(roles, conninfo):
    before = privileges(conninfo, "public.inventory_item", COLUMNS)
    expand()
    # The views give each role at most what it held on the table, column by column.
    on_view = privileges(conninfo, "compat_blue.inventory_item", COLUMNS)
    assert on_view <= before
    assert {(OWNER, None, "INSERT"), (BLUE, None, "UPDATE"), (REPORT, "qty", "SELECT")} <= on_view
    assert_both_colours_work(conninfo, 1)
    with session(conninfo, REPORT, "blue") as blue, session(conninfo, REPORT, "green") as green:
        assert blue.execute("SELECT qty FROM inventory_item WHERE sku = 'seed'").fetchone() == (
            1000,
        )
        # The new column carries the old one's column grant, as a plain AlterField keeps it.
        assert green.execute("SELECT qty FROM inventory_item WHERE sku = 'seed'").fetchone() == (
            Decimal("1.000"),
        )
        with pytest.raises(errors.InsufficientPrivilege):
            blue.execute("SELECT price_cents FROM inventory_item")
    compat("rollback")
    assert privileges(conninfo, "public.inventory_item", COLUMNS) == before
    expand()
    assert_both_colours_work(conninfo, 2)
    compat("complete")
    assert privileges(conninfo, "public.inventory_item", COLUMNS) == before
    assert leftovers() == {}


def problems() -> list[str]:
    return status.report("default")["rollout"]["tables"][0]["privileges"]


def mend(conninfo: str, lines: list[str]) -> None:
    """Run the statements `compat status` gives, as the role that ran migrate."""
    with session(conninfo, MIGRATOR) as migrator:
        for line in lines:
            migrator.execute(line.rsplit(": ", 1)[1])


def test_legacy_session_that_cannot_see_its_views_fails_loudly(roles, conninfo):
    expand()
    with session(conninfo, OWNER) as owner:  # granted during the rollout: no view access
        owner.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON inventory_item TO {LATE}")
    report = problems()
    assert [line.split(" but ")[0] for line in report] == [
        f"{LATE} holds privileges on public.inventory_item",
        *(
            f"{LATE} holds {privilege} on public.inventory_item"
            for privilege in ("DELETE", "INSERT", "SELECT", "UPDATE")
        ),
    ]
    with session(conninfo, LATE, "blue") as late:
        for statement in (
            "INSERT INTO inventory_item (sku, qty, price_cents, code) VALUES ('late', 1, 1, 'e')",
            "UPDATE inventory_item SET qty = 1 WHERE sku = 'seed'",
            "DELETE FROM inventory_item WHERE qty < 1500",  # grams, but kilograms there
        ):
            with pytest.raises(errors.InsufficientPrivilege, match="compat_blue"):
                late.execute(statement)
    mend(conninfo, report)
    assert problems() == []
    with session(conninfo, LATE, "blue") as late:
        late.execute("UPDATE inventory_item SET qty = 3000 WHERE sku = 'seed'")
    with session(conninfo, GREEN, "green") as green:
        assert green.execute("SELECT sku, qty FROM inventory_item ORDER BY id").fetchall() == [
            ("seed", Decimal("3.000")),
            ("secret", Decimal("2.000")),
        ]


@pytest.mark.parametrize(
    "search_path",
    [
        "compat_blue, public",
        '"compat_blue",public',
        "COMPAT_BLUE, public",
        '"$user", compat_blue, public',
        "pg_temp, compat_blue, public",
        "pg_catalog, compat_blue, public",
    ],
)
def test_guard_reads_the_search_path_as_postgres_does(roles, conninfo, search_path):
    """Wherever the legacy schema is the first schema a session names, a write that
    resolves elsewhere fails, whether the role lacks USAGE or a schema listed before it
    exists (here ``pg_temp``, once the session has a temporary table)."""
    expand()
    with session(conninfo, OWNER) as owner:
        owner.execute(f"GRANT SELECT, INSERT ON inventory_item TO {LATE}")
    with session(conninfo, LATE) as late:
        late.execute("CREATE TEMPORARY TABLE scratch (x int)")
        late.execute(f"SET search_path = {search_path}")
        with pytest.raises(errors.InsufficientPrivilege, match="compat_blue"):
            late.execute(
                "INSERT INTO inventory_item (sku, qty, price_cents, code) "
                "VALUES ('late', 1500, 1, 'e')"
            )
    with session(conninfo, BLUE) as blue:  # may use the schema: only pg_temp misleads it
        blue.execute("CREATE TEMPORARY TABLE scratch (x int)")
        blue.execute(f"SET search_path = {search_path}")
        insert = (
            "INSERT INTO inventory_item (sku, qty, price_cents, code) VALUES ('blue', 1500, 1, 'e')"
        )
        if search_path.startswith(("pg_temp", "pg_catalog")):
            with pytest.raises(errors.InsufficientPrivilege, match="compat_blue"):
                blue.execute(insert)
        else:
            blue.execute(insert)
            with session(conninfo, GREEN, "green") as green:
                query = "SELECT qty FROM inventory_item WHERE sku = 'blue'"
                assert green.execute(query).fetchone() == (Decimal("1.500"),)


def test_a_reused_legacy_name_gets_the_guard_without_any_sync_step(roles, conninfo):
    """``note`` removed and ``attrs`` renamed to ``note``: no sync step, but a legacy
    session on the base table would write its note into the old ``attrs``."""
    apply_operations(
        [RemoveCompatColumn("item", "note"), RenameCompatColumn("item", "attrs", "note")],
        "inventory",
        "0001_initial",
    )
    with session(conninfo, OWNER) as owner:
        owner.execute(f"GRANT SELECT, INSERT ON inventory_item TO {LATE}")
    with session(conninfo, LATE, "blue") as late:
        with pytest.raises(errors.InsufficientPrivilege, match="compat_blue"):
            late.execute(
                "INSERT INTO inventory_item (sku, qty, price_cents, code, note) "
                "VALUES ('late', 1, 1, 'e', 'a legacy note')"
            )


def test_revoke_during_the_rollout_reaches_the_legacy_colour(roles, conninfo, pg_server):
    """Without column-level grants the view reads with the caller's rights (PostgreSQL
    15+): the table's REVOKE holds through it at once. Before 15 every view reads with
    its owner's rights, so the REVOKE holds once repeated on the view, as `compat
    status` lists it."""
    with session(conninfo, OWNER) as owner:
        owner.execute(f"REVOKE SELECT (id, sku, qty) ON inventory_item FROM {REPORT}")
    expand()
    with session(conninfo, OWNER) as owner:
        owner.execute(f"REVOKE ALL ON inventory_item FROM {BLUE}")
    if pg_server.version_num >= 150000:
        with session(conninfo, BLUE, "blue") as blue:
            with pytest.raises(errors.InsufficientPrivilege):
                blue.execute("SELECT sku FROM inventory_item")
    mend(conninfo, problems())  # the view's own grants, now excess
    assert problems() == []
    with session(conninfo, BLUE, "blue") as blue:
        with pytest.raises(errors.InsufficientPrivilege):
            blue.execute("SELECT sku FROM inventory_item")


def test_revoke_on_a_table_with_column_grants_is_listed_until_repeated(roles, conninfo):
    """With column-level grants the view reads with its owner's rights, checked against
    the copied grants: a REVOKE on the table must be repeated on the view, and `compat
    status` says so until it is."""
    expand()
    with session(conninfo, OWNER) as owner:
        owner.execute(f"REVOKE ALL ON inventory_item FROM {BLUE}")
    assert [line.split(" but ")[0] for line in problems()] == [
        f"{BLUE} holds {privilege} on the legacy view of public.inventory_item"
        for privilege in ("DELETE", "INSERT", "SELECT", "UPDATE")
    ]
    mend(conninfo, problems())
    assert problems() == []
    with session(conninfo, BLUE, "blue") as blue:
        with pytest.raises(errors.InsufficientPrivilege):
            blue.execute("SELECT sku FROM inventory_item")


def test_views_take_no_default_privileges_and_keep_grant_options(roles, conninfo):
    with psycopg.connect(conninfo, autocommit=True) as su:
        su.execute(f"ALTER DEFAULT PRIVILEGES FOR ROLE {MIGRATOR} GRANT SELECT ON TABLES TO {LATE}")
    with session(conninfo, OWNER) as owner:
        owner.execute(f"GRANT SELECT ON inventory_item TO {GREEN} WITH GRANT OPTION")
    try:
        expand()
        query = "SELECT has_table_privilege(%s, 'compat_blue.inventory_item', %s)"
        with psycopg.connect(conninfo, autocommit=True) as su:
            assert su.execute(query, [LATE, "SELECT"]).fetchone() == (False,)
            assert su.execute(query, [GREEN, "SELECT WITH GRANT OPTION"]).fetchone() == (True,)
        assert problems() == []
    finally:
        with psycopg.connect(conninfo, autocommit=True) as su:
            su.execute(
                f"ALTER DEFAULT PRIVILEGES FOR ROLE {MIGRATOR} REVOKE SELECT ON TABLES FROM {LATE}"
            )


def test_app_roles_run_the_sync_steps_whatever_default_privileges_say(roles, conninfo):
    """Hardened set-ups revoke EXECUTE on new functions from PUBLIC by default."""
    with psycopg.connect(conninfo, autocommit=True) as su:
        su.execute(
            f"ALTER DEFAULT PRIVILEGES FOR ROLE {MIGRATOR} REVOKE EXECUTE ON FUNCTIONS FROM PUBLIC"
        )
    try:
        expand()
        assert_both_colours_work(conninfo, 1)
    finally:
        with psycopg.connect(conninfo, autocommit=True) as su:
            su.execute(
                f"ALTER DEFAULT PRIVILEGES FOR ROLE {MIGRATOR} GRANT EXECUTE ON FUNCTIONS TO PUBLIC"
            )


def test_row_level_security_holds_through_the_legacy_view(roles, conninfo, pg_server):
    if pg_server.version_num < 150000:
        pytest.skip("security_invoker views need PostgreSQL 15; older servers refuse RLS tables")
    with session(conninfo, OWNER) as owner:
        owner.execute("ALTER TABLE inventory_item ENABLE ROW LEVEL SECURITY")
        owner.execute(
            "CREATE POLICY hide_secret ON inventory_item USING (sku <> 'secret') "
            "WITH CHECK (sku <> 'secret')"
        )
    # The policies need a view that reads with the caller's rights, which a role with
    # column-level grants only could not read at all: refused, nothing changed.
    with pytest.raises(InvalidOperation, match="column-level grants"):
        expand()
    with session(conninfo, OWNER) as owner:
        owner.execute(f"REVOKE SELECT (id, sku, qty) ON inventory_item FROM {REPORT}")
    expand()
    with session(conninfo, BLUE, "blue") as blue:
        query = "SELECT reloptions FROM pg_class WHERE oid = 'compat_blue.inventory_item'::regclass"
        assert blue.execute(query).fetchone() == (["security_invoker=true"],)
        assert blue.execute("SELECT sku FROM inventory_item").fetchall() == [("seed",)]
        with pytest.raises(errors.InsufficientPrivilege):
            blue.execute(
                "INSERT INTO inventory_item (sku, qty, price_cents, code) "
                "VALUES ('secret', 1, 1, 'f')"
            )
    compat("complete")


def test_row_level_security_is_refused_where_views_bypass_it(roles, conninfo, monkeypatch):
    """Before PostgreSQL 15 a view runs with its owner's rights, so RLS would not apply
    to the legacy colour. Only the version number is substituted here: the table, its
    RLS flag and the refusal before any DDL are real."""
    from compat_views import catalog

    with session(conninfo, OWNER) as owner:
        owner.execute("ALTER TABLE inventory_item ENABLE ROW LEVEL SECURITY")
    monkeypatch.setattr(catalog, "server_version", lambda connection: 140012)
    with pytest.raises(InvalidOperation, match="row-level security"):
        expand()
    with psycopg.connect(conninfo, autocommit=True) as su:
        query = "SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'compat\\_%'"
        assert su.execute(query).fetchone() == (0,)
        assert su.execute("SELECT count(*) FROM compat_views_rollout").fetchone() == (0,)
