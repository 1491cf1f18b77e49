"""A step locks only what its DDL locks, and never waits while it cannot let go of everything.

On the atlas app (``atlas_town.region_id`` references ``atlas_region``): completing
or rolling back a change of the towns alone leaves the regions unlocked, so a long
reader of them (a report, pg_dump) holds nothing up, and a migrating role that may
only reference the regions can still finish. A migration that mixes plain and
compat operations fails at once on a busy lock rather than keep writers waiting
behind the locks it already holds.
"""

from __future__ import annotations

import psycopg
import pytest
from django.db import connections

from compat_views.lifecycle import lock_order
from compat_views.operations import RemoveCompatColumn, RenameCompatColumn
from tests.harness import apply_operations, columns, compat, leftovers, migrate

PLATFORM, MIGRATOR, PASSWORD = "atlas_platform", "atlas_migrator", "atlas-pw"


def test_lock_order_keeps_every_foreign_key_outside_a_cycle():
    """org and member reference each other; member also references country. The cycle
    cannot be ordered, but a member is still locked before the country it references."""
    country, org, member = ("public", "x_country"), ("public", "x_org"), ("public", "x_member")
    references = [(member, org), (org, member), (member, country)]
    order = lock_order([country, org, member], references)
    assert order.index(member) < order.index(country), order
    assert lock_order([country], []) == [country]


@pytest.mark.parametrize("action", ["complete", "rollback"])
def test_a_reader_of_an_untouched_referenced_table_does_not_hold_up_the_step(
    db, conninfo, settings, action
):
    """Only the towns change; their regions are read by a long transaction throughout."""
    settings.COMPAT_VIEWS_DDL_ATTEMPTS = 2
    migrate("atlas", "0001")
    apply_operations([RenameCompatColumn("town", "name", "title")], "atlas", "0001_initial")
    with psycopg.connect(conninfo) as reader:  # not autocommit: idle in transaction
        reader.execute("SELECT count(*) FROM atlas_region")
        try:
            compat(action, "--force")
        finally:
            reader.rollback()
    assert columns("atlas_town") == ["id", "title" if action == "complete" else "name", "region_id"]
    assert leftovers() == {}


@pytest.fixture
def migrator(db, conninfo):
    """The default alias migrates as a role that owns the towns but holds only SELECT and
    REFERENCES on the regions, which another role owns (auth_user in a shared database)."""
    migrate("atlas", "0001")
    with psycopg.connect(conninfo, autocommit=True) as su:
        for role in (PLATFORM, MIGRATOR):
            su.execute(
                f"DO $$ BEGIN CREATE ROLE {role} LOGIN PASSWORD '{PASSWORD}'; "
                "EXCEPTION WHEN duplicate_object THEN END $$"
            )
        su.execute(f"GRANT CREATE ON DATABASE {db} TO {MIGRATOR}")
        su.execute(f"GRANT CREATE, USAGE ON SCHEMA public TO {MIGRATOR}")
        su.execute(f"GRANT ALL ON ALL TABLES IN SCHEMA public TO {MIGRATOR}")
        su.execute(f"GRANT ALL ON ALL SEQUENCES IN SCHEMA public TO {MIGRATOR}")
        su.execute(f"ALTER TABLE atlas_town OWNER TO {MIGRATOR}")
        su.execute(f"ALTER TABLE atlas_region OWNER TO {PLATFORM}")
        su.execute(f"REVOKE ALL ON atlas_region FROM {MIGRATOR}")
        su.execute(f"GRANT SELECT, REFERENCES ON atlas_region TO {MIGRATOR}")
    connections.close_all()
    settings_dict = connections["default"].settings_dict
    original = settings_dict["USER"], settings_dict["PASSWORD"]
    settings_dict.update(USER=MIGRATOR, PASSWORD=PASSWORD)
    yield
    connections.close_all()
    settings_dict["USER"], settings_dict["PASSWORD"] = original


@pytest.mark.parametrize(
    "operation, action, expected",
    [
        (RenameCompatColumn("town", "name", "title"), "complete", ["id", "title", "region_id"]),
        (RenameCompatColumn("town", "name", "title"), "rollback", ["id", "name", "region_id"]),
        # dropping the foreign key's column locks the regions: the DROP does that itself
        (RemoveCompatColumn("town", "region", down="1"), "complete", ["id", "name"]),
    ],
)
def test_a_role_that_may_only_reference_the_parent_completes_and_rolls_back(
    migrator, operation, action, expected
):
    apply_operations([operation], "atlas", "0001_initial")
    compat(action, "--force")
    assert columns("atlas_town") == expected
