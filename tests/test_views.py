"""Legacy views: defaults, grants, security_invoker, and a sync trigger pgtrigger recognises."""

import psycopg
from django.core.management import call_command

from compat_views import naming
from compat_views.lifecycle import pending, shape_of
from compat_views.triggers import SyncTrigger, render_block
from tests.harness import migrate, rows


def test_view_carries_defaults_grants_and_security_invoker(db, conninfo):
    migrate("library", "0001")
    rows("DO $$ BEGIN CREATE ROLE compat_reader; EXCEPTION WHEN duplicate_object THEN END $$")
    rows("GRANT SELECT, INSERT ON library_book TO compat_reader")
    rows("ALTER TABLE library_book ALTER stock SET DEFAULT 7")  # a database default to carry
    migrate("library", "0002")
    (options,) = rows(
        "SELECT reloptions FROM pg_class WHERE relname = 'library_book' "
        "AND relnamespace = 'compat_blue'::regnamespace"
    )[0]
    assert "security_invoker=true" in options
    grants = rows(
        "SELECT privilege_type FROM information_schema.role_table_grants WHERE "
        "table_schema = 'compat_blue' AND grantee = 'compat_reader' ORDER BY 1"
    )
    assert grants == [("INSERT",), ("SELECT",)]
    assert rows("SELECT has_schema_privilege('compat_reader', 'compat_blue', 'USAGE')") == [(True,)]
    with psycopg.connect(
        conninfo, autocommit=True, options="-c search_path=compat_blue,public"
    ) as blue:
        # DEFAULT through a view means NULL unless the view carries the default itself.
        blue.execute(
            "INSERT INTO library_book (id, isbn, title, price_cents, stock) "
            "VALUES (DEFAULT, 'x', 'X', 5, DEFAULT)"
        )
        assert blue.execute("SELECT id IS NOT NULL, stock FROM library_book").fetchone() == (
            True,
            7,
        )


def test_sync_trigger_is_pgtriggers_and_survives_prune(db, settings):
    migrate("shop", "0002")
    rollout = pending("default")
    touched = rollout.tables.get()
    trigger = SyncTrigger(
        base_schema="public",
        table="shop_order",
        block=render_block("public", "shop_order", "compat_blue", shape_of(touched)),
    )
    name = naming.sync_trigger("public", "shop_order")
    assert not name.startswith("pgtrigger_")
    (comment,) = rows("SELECT obj_description(oid) FROM pg_trigger WHERE tgname = %s", [name])[0]
    assert comment == trigger.compile().hash  # pgtrigger's hash: drift is detectable
    executed = rows("SELECT tgfoid::regprocedure::text FROM pg_trigger WHERE tgname = %s", [name])
    assert executed == [(f"{naming.sync_function('public', 'shop_order')}()",)]
    settings.INSTALLED_APPS = [*settings.INSTALLED_APPS, "pgtrigger"]
    call_command("pgtrigger", "prune")
    assert rows("SELECT count(*) FROM pg_trigger WHERE tgname = %s", [name]) == [(1,)]
