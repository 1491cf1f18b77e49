"""Adversarial review of the live colour (``live``) and fresh tables (``fresh``).

Each test is one way to break them: a compat migration from the live colour that gets
past the ``pre_migrate`` refusal, a plan refused only after some of it ran, a message
that leaves a developer stuck. ``default`` is green and ``legacy`` blue (``conftest``).
"""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.db import connections, models
from django.db.migrations import AlterModelTable, CreateModel, DeleteModel, Migration
from django.test import override_settings

from compat_views import live
from compat_views.errors import ConfigurationError, RolloutConflict
from compat_views.models import LiveColour, Rollout
from compat_views.operations import AddCompatColumn
from tests.harness import columns, migrate, rows
from tests.test_bad_input import snapshot


def green_live() -> None:
    """Green serves the newest release and may not start a rollout."""
    LiveColour.objects.create(colour="green", reason=LiveColour.DECLARED)


def tables() -> list[str]:
    return connections["default"].introspection.table_names()


@pytest.fixture
def relabel(settings):
    """The ``relabel`` scenario installed: a plain RenameModel before a compat migration."""
    settings.INSTALLED_APPS = [*settings.INSTALLED_APPS, "tests.scenarios.relabel"]


def test_a_plain_rename_ahead_of_the_live_colours_compat_migration_does_not_run(db, relabel):
    with override_settings(COMPAT_VIEWS_PLAIN_MIGRATIONS=True):
        migrate("relabel", "0003")  # releases 1 and 2
    green_live()
    before = snapshot()
    # 0004 renames relabel_crate to relabel_box, 0005 changes relabel_box with a compat
    # operation: the plan expands a table that exists now, under another name.
    with pytest.raises(RolloutConflict, match="green is live"):
        migrate("relabel", "0005")
    assert snapshot() == before
    assert "relabel_crate" in tables() and "relabel_box" not in tables()


def test_a_table_renamed_by_alter_model_table_in_the_plan_still_expands(db):
    migrate("shop", "0001")
    green_live()
    move = Migration("0003_move", "shop")
    move.operations = [AlterModelTable("order", "shop_purchase")]
    add = Migration("0004_note", "shop")
    add.operations = [AddCompatColumn("order", "memo", models.TextField(null=True))]
    with pytest.raises(RolloutConflict, match="green is live"):
        live.refuse_live_plan(plan=[(move, False), (add, False)], using="default")


def test_a_table_dropped_and_created_again_in_the_plan_is_fresh(db):
    """The other way round: no table of that name outlives the plan's DeleteModel, so
    the compat operation runs plain (``fresh``) and nothing is refused."""
    migrate("shop", "0001")
    green_live()
    drop = Migration("0003_drop", "shop")
    drop.operations = [DeleteModel("order")]
    again = Migration("0004_again", "shop")
    again.operations = [
        CreateModel("order", [("id", models.BigAutoField(primary_key=True))]),
        AddCompatColumn("order", "memo", models.TextField(null=True)),
    ]
    live.refuse_live_plan(plan=[(drop, False), (again, False)], using="default")


def test_a_third_colour_is_refused_before_any_of_its_plan_runs(db, relabel, settings, monkeypatch):
    settings.COMPAT_VIEWS_COLOURS = ("blue", "green", "red")
    settings.COMPAT_VIEWS_LEGACY_COLOUR = "green"
    migrate("relabel", "0001")
    migrate("library", "0001")
    call_command("migrate", "library", "0002", database="legacy", verbosity=0)  # blue's
    monkeypatch.setitem(connections["default"].settings_dict, "COMPAT_VIEWS_COLOUR", "red")
    connections["default"].close()
    before = snapshot()
    # red: relabel 0002 (plain) first, then 0003 (compat on relabel_crate)
    message = "A rollout from green to blue is pending and this process is red"
    with pytest.raises(RolloutConflict, match=message):
        migrate("relabel", "0003")
    assert snapshot() == before


def test_no_colour_refuses_the_plan_before_any_of_it_runs_and_names_plain_migrations(
    db, relabel, monkeypatch
):
    migrate("relabel", "0001")
    monkeypatch.delenv("COMPAT_VIEWS_COLOUR", raising=False)
    monkeypatch.delitem(connections["default"].settings_dict, "COMPAT_VIEWS_COLOUR")
    before = snapshot()
    with override_settings(COMPAT_VIEWS_COLOUR=None):
        with pytest.raises(ConfigurationError, match="No colour is configured") as raised:
            migrate("relabel", "0003")
    assert "COMPAT_VIEWS_PLAIN_MIGRATIONS" in str(raised.value)
    assert snapshot() == before


def test_a_developer_migrating_twice_as_one_colour_is_told_about_plain_migrations(db):
    # A developer's database: migrated from zero as green, then models edited and a new
    # compat migration written (another release, as far as the digest can tell).
    migrate("shop", "0001")
    LiveColour.objects.update(release="the files before makemigrations")
    with pytest.raises(RolloutConflict, match="green is live") as raised:
        migrate("shop", "0002")
    assert "COMPAT_VIEWS_PLAIN_MIGRATIONS" in str(raised.value)
    with override_settings(COMPAT_VIEWS_PLAIN_MIGRATIONS=True):
        migrate("shop", "0002")
    assert Rollout.objects.count() == 0 and columns("shop_order")[-1] == "note"


@pytest.fixture
def three_colours(settings, monkeypatch):
    """Colours blue, green and red; ``default`` runs as red. Green is live."""
    settings.COMPAT_VIEWS_COLOURS = ("blue", "green", "red")
    call_command("compat", "live", "green", verbosity=0)
    migrate("library", "0001")
    monkeypatch.setitem(connections["default"].settings_dict, "COMPAT_VIEWS_COLOUR", "red")
    connections["default"].close()


def test_a_legacy_colour_that_is_not_live_is_refused(db, three_colours, settings):
    settings.COMPAT_VIEWS_LEGACY_COLOUR = "blue"  # green serves: blue is idle
    before = snapshot()
    with pytest.raises(RolloutConflict, match="green is live .*the legacy colour is blue"):
        migrate("library", "0002")
    assert snapshot() == before


def test_an_ambiguous_legacy_colour_is_refused_naming_the_live_one(db, three_colours, relabel):
    migrate("relabel", "0001")
    before = snapshot()
    with pytest.raises(ConfigurationError, match="COMPAT_VIEWS_LEGACY_COLOUR=green"):
        migrate("relabel", "0003")  # 0002 plain first
    assert snapshot() == before


def test_compat_live_naming_the_live_colour_lets_its_release_go_on_migrating(db, capsys):
    migrate("library", "0001")  # green's release, live by its migrate (conftest)
    call_command("compat", "live", "green")  # an operator confirms it
    assert "green is live (its release applied migrations at " in capsys.readouterr().out
    migrate("library", "0002")  # the same release's next step
    assert Rollout.objects.get().new_colour == "green"


def test_a_table_an_initial_migration_fakes_is_not_fresh(db):
    """Regression guard (this holds): --fake-initial records 0001 for a table that was
    there before the run, so 0002's compat operations open a rollout."""
    migrate("shop", "0001", database="legacy")
    rows("DELETE FROM django_migrations WHERE app = 'shop'")
    call_command("migrate", "shop", "0002", fake_initial=True, verbosity=0)
    assert Rollout.objects.get(status=Rollout.PENDING).tables.get().table == "shop_order"
