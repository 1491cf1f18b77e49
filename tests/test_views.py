"""Legacy views: base defaults, copied grants, and triggers pgtrigger recognises."""

import psycopg
from django.core.management import call_command

from compat_views import naming
from compat_views.lifecycle import pending, plan_of
from compat_views.triggers import triggers_for
from tests.harness import migrate, rows


def test_view_takes_base_defaults_and_copies_grants(db, conninfo, pg_server):
    migrate("library", "0001")
    rows("DO $$ BEGIN CREATE ROLE compat_reader; EXCEPTION WHEN duplicate_object THEN END $$")
    rows("GRANT SELECT, INSERT ON library_book TO compat_reader")
    rows("ALTER TABLE library_book ALTER stock SET DEFAULT 7")  # a database default to carry
    migrate("library", "0002")
    (options,) = rows(
        "SELECT reloptions FROM pg_class WHERE relname = 'library_book' "
        "AND relnamespace = 'compat_blue'::regnamespace"
    )[0]
    # The table's own privileges decide, where views can read with the caller's (15+).
    assert options == (["security_invoker=true"] if pg_server.version_num >= 150000 else None)
    grants = rows(
        "SELECT privilege_type FROM information_schema.role_table_grants WHERE "
        "table_schema = 'compat_blue' AND grantee = 'compat_reader' ORDER BY 1"
    )
    assert grants == [("INSERT",), ("SELECT",)]
    assert rows("SELECT has_schema_privilege('compat_reader', 'compat_blue', 'USAGE')") == [(True,)]
    with psycopg.connect(
        conninfo, autocommit=True, options="-c search_path=compat_blue,public"
    ) as blue:
        # The view sets no defaults: DEFAULT through it takes the base column's default.
        blue.execute(
            "INSERT INTO library_book (id, isbn, title, price_cents, stock) "
            "VALUES (DEFAULT, 'x', 'X', 5, DEFAULT)"
        )
        assert blue.execute("SELECT id IS NOT NULL, stock FROM library_book").fetchone() == (
            True,
            7,
        )


def test_sync_triggers_are_pgtriggers_and_survive_prune(db, settings):
    migrate("shop", "0001")
    migrate("shop", "0002")
    touched = pending("default").tables.get()
    expected = triggers_for("public", "shop_order", "compat_blue", plan_of(touched), "shop_order")
    assert [t.name for t in expected] == [
        *(naming.sync_trigger("public", "shop_order", event, "up") for event in ("ins", "upd")),
        *(naming.sync_trigger("public", "shop_order", e, "guard") for e in ("ins", "upd", "del")),
    ]  # only `up` steps here (added columns), so no `down` triggers
    for trigger in expected:
        assert not trigger.name.startswith("pgtrigger_")
        (comment, executes) = rows(
            "SELECT obj_description(oid), tgfoid::regprocedure::text FROM pg_trigger "
            "WHERE tgname = %s",
            [trigger.name],
        )[0]
        assert comment == trigger.compile().hash  # pgtrigger's hash: drift is detectable
        function = naming.sync_function("public", "shop_order", trigger.direction)
        assert executes == f"{function}()"
    settings.INSTALLED_APPS = [*settings.INSTALLED_APPS, "pgtrigger"]
    call_command("pgtrigger", "prune")
    names = [t.name for t in expected]
    assert rows("SELECT count(*) FROM pg_trigger WHERE tgname = ANY(%s)", [names]) == [(5,)]
