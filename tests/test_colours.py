"""Colours alternate: the database records the live colour, and refuses it a new rollout.

``default`` is green and ``legacy`` blue, as everywhere in the suite. The template
database was migrated by green (``conftest``), so green is live "by a migrate of this
release" at the start of each test, which lets green go on migrating this release.
"""

from __future__ import annotations

import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from compat_views.errors import RolloutConflict
from compat_views.models import LiveColour, Rollout
from tests.harness import columns, compat, leftovers, migrate, rows
from tests.test_bad_input import snapshot


def live() -> tuple[str, str, int | None]:
    entry = LiveColour.objects.order_by("-pk").first()
    return entry.colour, entry.reason, entry.rollout_id


def status(capsys) -> tuple[str, dict]:
    call_command("compat", "status")
    text = capsys.readouterr().out
    call_command("compat", "status", "--json")
    return text, json.loads(capsys.readouterr().out)


def green_rollout(finish: str) -> Rollout:
    """Library's rename as a green rollout from blue, finished with ``finish``."""
    migrate("library", "0001")
    migrate("library", "0002")
    compat(finish)
    return Rollout.objects.latest("pk")


def test_complete_makes_the_new_colour_live(db):
    rollout = green_rollout("complete")
    assert live() == ("green", LiveColour.COMPLETED, rollout.pk)


def test_rollback_makes_the_legacy_colour_live_and_green_may_try_again(db):
    first = green_rollout("rollback")
    assert live() == ("blue", LiveColour.ROLLED_BACK, first.pk)

    migrate("library", "0002")  # blue serves: green's release migrates again
    assert Rollout.objects.filter(status=Rollout.PENDING).get().new_colour == "green"
    migrate("library", "0001")  # migrating back undoes the last operation: a rollback too
    assert live() == ("blue", LiveColour.ROLLED_BACK, Rollout.objects.latest("pk").pk)


def test_a_compat_migration_from_the_live_colour_is_refused_with_nothing_changed(db):
    rollout = green_rollout("complete")
    migrate("shop", "0001")  # green's next release starts with a plain migration ...
    before = snapshot()
    message = (
        rf"green is live \(it completed rollout {rollout.pk} at [^)]+\): the release that "
        r"is not live yet must migrate; run it as blue \(COMPAT_VIEWS_COLOUR=blue\)"
    )
    with pytest.raises(RolloutConflict, match=message):
        migrate("shop", "0002")  # ... and its compat one is refused
    # A plan with plain migrations first is refused before any of them ran.
    with pytest.raises(RolloutConflict, match=message):
        call_command("migrate", verbosity=0)
    assert snapshot() == before
    assert Rollout.objects.count() == 1 and leftovers() == {}

    # As the other colour, the release migrates.
    call_command("migrate", "shop", "0002", database="legacy", verbosity=0)
    pending = Rollout.objects.get(status=Rollout.PENDING)
    assert (pending.legacy_colour, pending.new_colour) == ("green", "blue")
    assert rows(
        "SELECT count(*) FROM information_schema.views WHERE table_schema = %s", ["compat_green"]
    ) == [(1,)]


def test_status_names_the_live_colour_and_the_next_one(db, capsys):
    rollout = green_rollout("complete")
    text, data = status(capsys)
    assert "No rollout is pending." in text
    assert f"green is live (it completed rollout {rollout.pk} at " in text
    assert "the next release must run as blue." in text
    assert data["rollout"] is None
    assert {k: data["live"][k] for k in ("colour", "reason", "rollout", "next_colours")} == {
        "colour": "green",
        "reason": "completed",
        "rollout": rollout.pk,
        "next_colours": ["blue"],
    }


def test_status_with_nothing_recorded_allows_any_colour(db, capsys):
    LiveColour.objects.all().delete()  # a database of the adoption release, before it migrated
    text, data = status(capsys)
    assert "No live colour is recorded yet" in text and "blue, green" in text
    assert data["live"] is None
    migrate("library", "0001")  # the first release that migrates records its colour
    assert live() == ("green", LiveColour.MIGRATED, None)


def test_a_release_of_plain_migrations_alternates_colours_too(db):
    green_rollout("complete")  # green is live
    call_command("migrate", "shop", "0001", database="legacy", verbosity=0)  # blue's release
    assert live() == ("blue", LiveColour.MIGRATED, None)
    call_command("migrate", "shop", "0001", database="legacy", verbosity=0)  # nothing to apply
    assert LiveColour.objects.filter(colour="blue").count() == 1

    # The same release goes on migrating as blue: it is the newest release, not the one
    # a rollout would break.
    call_command("migrate", "shop", "0002", database="legacy", verbosity=0)
    compat("rollback")
    assert live() == ("green", LiveColour.ROLLED_BACK, Rollout.objects.latest("pk").pk)


def test_a_newer_release_as_the_colour_that_migrated_last_is_refused(db):
    migrate("library", "0001")
    LiveColour.objects.filter(colour="green").update(release="an older release")
    with pytest.raises(RolloutConflict, match=r"green is live \(its release applied migrations"):
        migrate("library", "0002")
    assert columns("library_book")[2] == "title"
    assert Rollout.objects.count() == 0


def test_compat_live_records_the_colour_by_hand(db, capsys):
    migrate("library", "0001")
    migrate("shop", "0001")
    migrate("library", "0002")
    compat("complete")  # green is live; then a release without migrations went live as blue
    with pytest.raises(RolloutConflict, match="green is live"):
        migrate("shop", "0002")
    call_command("compat", "live", "blue")
    assert "blue is live (recorded with `manage.py compat live` at " in capsys.readouterr().out
    assert live() == ("blue", LiveColour.DECLARED, None)
    migrate("shop", "0002")  # green's release may migrate now
    assert Rollout.objects.get(status=Rollout.PENDING).new_colour == "green"

    with pytest.raises(CommandError, match="rollout from blue to green is pending"):
        call_command("compat", "live", "green")
    with pytest.raises(CommandError, match="'purple' is not one of COMPAT_VIEWS_COLOURS"):
        call_command("compat", "live", "purple")
    assert live() == ("blue", LiveColour.DECLARED, None)
