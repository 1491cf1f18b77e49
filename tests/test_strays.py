"""A legacy schema holds the rollout's views and nothing else.

A session that puts ``compat_blue`` first creates what it names without a schema in
it, and ending the rollout drops that schema. So the legacy colour may not migrate
while its legacy schema exists, and ``complete`` / ``rollback`` never drop what
somebody else put there. ``default`` is green (the new colour), ``legacy`` blue.
"""

from __future__ import annotations

import re

import psycopg
import pytest
from django.core.management import call_command
from django.db import DatabaseError, connections
from django.test.utils import CaptureQueriesContext

from compat_views import strays
from compat_views.errors import ForeignObjects, RolloutConflict
from compat_views.models import Rollout
from tests.harness import compat, leftovers, migrate, rows
from tests.test_bad_input import snapshot

REFUSED = (
    r"A rollout from blue to green is pending and this process is blue\. Its search_path "
    r"puts compat_blue first \(compat_blue, ?[^)]*\), so this migrate would create its "
    r"tables there, .*`manage.py compat complete` or `manage.py compat rollback`.* run this "
    r"migrate as green \(COMPAT_VIEWS_COLOUR=green, .*create them in public\. Nothing was "
    r"changed\."
)


@pytest.fixture
def rollout(db, settings):
    """Green's rollout from blue pending (library's rename), and an app that is new to
    the database installed (``latecomer``)."""
    migrate("library", "0001")
    migrate("library", "0002")
    settings.INSTALLED_APPS = [*settings.INSTALLED_APPS, "tests.scenarios.latecomer"]
    return Rollout.objects.get(status=Rollout.PENDING)


def tables(pattern: str, kinds: str = "r") -> list[str]:
    """Every relation of ``kinds`` (relkinds; tables by default) named like ``pattern``,
    in any schema."""
    return [
        row[0]
        for row in rows(
            "SELECT n.nspname || '.' || c.relname FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE c.relname LIKE %s AND c.relkind = ANY(%s) ORDER BY 1",
            [pattern, list(kinds)],
        )
    ]


def legacy_session(conninfo: str) -> psycopg.Connection:
    """A blue session from outside Django, psql-like: no application_name tag."""
    return psycopg.connect(conninfo, autocommit=True, options="-c search_path=compat_blue,public")


def as_process(monkeypatch, settings, colour: str | None, **options) -> None:
    """Make the ``legacy`` alias a process of ``colour`` (None: no colour), connecting
    with libpq ``options``."""
    legacy = connections["legacy"]
    legacy.close()
    monkeypatch.delenv("COMPAT_VIEWS_COLOUR", raising=False)
    settings.COMPAT_VIEWS_COLOUR = None
    monkeypatch.setitem(legacy.settings_dict, "COMPAT_VIEWS_COLOUR", colour)
    monkeypatch.setitem(
        legacy.settings_dict, "OPTIONS", {**legacy.settings_dict["OPTIONS"], **options}
    )


def test_the_legacy_colour_may_not_migrate_a_new_app_while_the_rollout_is_pending(rollout):
    before = snapshot()
    with pytest.raises(RolloutConflict, match=REFUSED):
        call_command("migrate", "latecomer", database="legacy", verbosity=0)
    with pytest.raises(RolloutConflict, match=REFUSED):
        call_command("migrate", database="legacy", verbosity=0)  # every app's plan
    with pytest.raises(RolloutConflict, match=REFUSED):  # a plan going backwards too
        call_command("migrate", "library", "0001", database="legacy", verbosity=0)
    assert snapshot() == before  # django_migrations included
    assert tables("latecomer%", kinds="rpSiv") == []  # no table, sequence, index anywhere

    # The new colour's migrate puts the app in the base schema, where both colours see it
    # and where it outlives the rollout.
    migrate("latecomer", "0002")
    assert tables("latecomer%") == ["public.latecomer_note", "public.latecomer_tag"]
    rows("INSERT INTO latecomer_note (text) VALUES ('green')")
    rows("INSERT INTO latecomer_note (text) VALUES ('blue')", alias="legacy")
    compat("complete")
    assert tables("latecomer%") == ["public.latecomer_note", "public.latecomer_tag"]
    assert rows("SELECT text FROM latecomer_note ORDER BY id") == [("green",), ("blue",)]
    assert leftovers() == {}


def test_the_legacy_colour_migrates_with_nothing_to_apply_as_at_every_start(rollout):
    before = snapshot()
    with CaptureQueriesContext(connections["legacy"]) as queries:
        call_command("migrate", "library", "0002", database="legacy", verbosity=0)
        call_command("migrate", "compat_views", database="legacy", verbosity=0)
    assert not [q for q in queries if "current_schema" in q["sql"]]  # not even a look
    assert snapshot() == before


def test_a_session_that_joins_blue_by_its_search_path_alone_is_refused_too(
    rollout, monkeypatch, settings
):
    as_process(monkeypatch, settings, None, options="-c search_path=compat_blue,public")
    with pytest.raises(RolloutConflict, match=REFUSED):
        call_command("migrate", "latecomer", database="legacy", verbosity=0)
    assert tables("latecomer%") == []


def test_no_colour_and_a_third_colour_migrate_into_the_base_schema(rollout, monkeypatch, settings):
    as_process(monkeypatch, settings, None)  # psql-like: "$user", public
    call_command("migrate", "latecomer", "0001", database="legacy", verbosity=0)
    settings.COMPAT_VIEWS_COLOURS = ("blue", "green", "red")
    as_process(monkeypatch, settings, "red")  # compat_red does not exist
    assert rows("SHOW search_path", alias="legacy")[0][0].startswith("compat_red, ")
    call_command("migrate", "latecomer", "0002", database="legacy", verbosity=0)
    connections["legacy"].close()
    assert tables("latecomer%") == ["public.latecomer_note", "public.latecomer_tag"]
    compat("complete")
    assert tables("latecomer%") == ["public.latecomer_note", "public.latecomer_tag"]


def test_a_legacy_schema_left_over_without_a_rollout_is_refused_too(db, settings):
    rows("CREATE SCHEMA compat_blue")  # made by hand, or left behind
    settings.INSTALLED_APPS = [*settings.INSTALLED_APPS, "tests.scenarios.latecomer"]
    with pytest.raises(RolloutConflict, match=r"no pending rollout uses this one"):
        call_command("migrate", "latecomer", database="legacy", verbosity=0)
    assert tables("latecomer%") == []


def made_by_hand(conninfo: str) -> None:
    """What a blue psql session leaves in compat_blue: a table with rows (and the
    sequence of its serial column), a sequence, a function."""
    with legacy_session(conninfo) as conn:
        conn.execute("CREATE TABLE t (id serial PRIMARY KEY, note text)")
        conn.execute("INSERT INTO t (note) VALUES ('kept')")
        conn.execute("CREATE SEQUENCE s")
        conn.execute("CREATE FUNCTION f(n int) RETURNS int LANGUAGE sql AS 'SELECT n'")


MOVES = [
    'function compat_blue.f(integer): ALTER FUNCTION compat_blue.f(integer) SET SCHEMA "public";',
    'sequence compat_blue.s: ALTER SEQUENCE compat_blue.s SET SCHEMA "public";',
    'table compat_blue.t: ALTER TABLE compat_blue.t SET SCHEMA "public";',
]


def test_complete_and_rollback_refuse_objects_made_in_the_legacy_schema(rollout, conninfo):
    made_by_hand(conninfo)
    before = snapshot()
    for command in (["complete"], ["complete", "--force"], ["rollback"], ["rollback", "--force"]):
        with pytest.raises(ForeignObjects) as refused:
            compat(*command)
        message = str(refused.value)
        assert message.startswith(
            "Ending the rollout drops schema compat_blue, and compat_views drops no object "
            "it did not create (--force does not change that).\nSchema compat_blue holds "
            "objects compat_views did not create"
        )
        assert [line.strip() for line in message.splitlines() if "SET SCHEMA" in line] == MOVES
        assert message.endswith("Then run the command again. Nothing was changed.")
    # Undoing the rollout's last operation would end it too.
    with pytest.raises(ForeignObjects, match="compat_blue.t SET SCHEMA"):
        migrate("library", "0001")
    assert snapshot() == before
    assert rows("SELECT note FROM compat_blue.t") == [("kept",)]

    # The statements given move them where every colour finds them; then complete works.
    for line in MOVES:
        rows(line.split(": ", 1)[1])
    compat("complete")
    assert rows("SELECT note FROM public.t") == [("kept",)]
    assert tables("t_id_seq", "S") == ["public.t_id_seq"] and tables("s", "S") == ["public.s"]
    assert rows("SELECT public.f(7)") == [(7,)]
    assert leftovers() == {}


def test_objects_built_on_a_legacy_view_keep_it_until_they_go(rollout, conninfo):
    with legacy_session(conninfo) as conn:
        conn.execute("CREATE VIEW public.report AS SELECT count(*) AS n FROM library_book")
    before = snapshot()
    dependent = re.escape("  view public.report (uses compat_blue.library_book)")
    for command in ("rollback", "complete"):
        with pytest.raises(ForeignObjects, match=rf"(?s)depend on the legacy views.*{dependent}"):
            compat(command)
    assert snapshot() == before
    rows("DROP VIEW public.report")
    compat("rollback")
    assert leftovers() == {}


def test_the_legacy_schema_is_dropped_without_cascade(rollout, conninfo, monkeypatch):
    """Whatever the check missed, PostgreSQL refuses to drop: nothing is lost."""
    made_by_hand(conninfo)
    monkeypatch.setattr(strays, "refuse", lambda connection, rollout: None)
    with pytest.raises(DatabaseError, match="cannot drop schema compat_blue because other"):
        compat("complete")
    assert rows("SELECT note FROM compat_blue.t") == [("kept",)]
    assert Rollout.objects.get().status == Rollout.PENDING
