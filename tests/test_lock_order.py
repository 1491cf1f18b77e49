"""Rollout steps take their locks all at once, in one order, and let all of them go to wait.

The atlas app has towns in regions (``atlas_town.region_id`` references
``atlas_region``); its release 2 renames Region to Area and Town.name to title. An
application statement locks a view before its base table, and a town before the
region its foreign-key check reads. A step that locked the regions and then waited
for the towns, keeping the regions, would be waited on by a town's writer in a
cycle that Postgres breaks by failing the writer; a step that kept one table while
retrying another would stall that table's writers for as long as it retried.
"""

from __future__ import annotations

import logging
import threading
import time

import psycopg
import pytest
from django.db import connections
from psycopg.conninfo import make_conninfo

from compat_views.operations import RenameCompatColumn, RenameCompatModel
from tests.harness import ColourWriter, apply_operations, compat, leftovers, migrate, rows
from tests.test_privileges import BLUE, GREEN, MIGRATOR, OWNER, PASSWORD, create_roles, use_role

SHAPES = {  # colour: (region table, town name column)
    "blue": ("atlas_region", "name"),
    "green": ("atlas_area", "title"),
}
PROGRESS_DEADLINE = 60  # seconds; only so that a stuck writer fails the test instead of hanging


class RegionTownWriter(ColourWriter):
    """Adds regions and towns in its colour's shape, in the three ways an application does.

    A region and a town in it, each its own transaction; a town in the last region in
    a transaction that does some work before it commits (Django's foreign keys are
    checked at commit, so the region is locked last); a region and a town in one
    transaction, which locks the region before the town: the order no step follows,
    which steps must survive all the same.
    """

    def __init__(self, conninfo: str, colour: str, name: str) -> None:
        super().__init__(conninfo, colour, name)
        self.towns: list[tuple[str, str]] = []  # (town, its region), as committed
        self.region: tuple[int, str] | None = None

    def step(self, conn: psycopg.Connection, n: int) -> None:
        name = f"{self.name}-{n}"
        kind = (n - 1) % 3
        if kind == 0:
            self.add_region(conn, name)
            self.add_town(conn, name)
        elif kind == 1:
            with conn.transaction():
                self.add_town(conn, name)
                conn.execute("SELECT pg_catalog.pg_sleep(0.02)")  # the application's work
        else:
            with conn.transaction():
                self.add_region(conn, name)
                self.add_town(conn, name)
        self.towns.append((name, self.region[1]))
        self.inserted += 1

    def add_region(self, conn: psycopg.Connection, name: str) -> None:
        regions, _ = SHAPES[self.colour]
        sql = f"INSERT INTO {regions} (name) VALUES (%s) RETURNING id"
        self.region = (conn.execute(sql, [name]).fetchone()[0], name)

    def add_town(self, conn: psycopg.Connection, name: str) -> None:
        _, town_name = SHAPES[self.colour]
        conn.execute(
            f"INSERT INTO atlas_town ({town_name}, region_id) VALUES (%s, %s)",
            [name, self.region[0]],
        )


def start(conninfo: str, colour: str, phase: str) -> list[RegionTownWriter]:
    writers = [RegionTownWriter(conninfo, colour, f"{colour}{i}-{phase}") for i in range(2)]
    for writer in writers:
        writer.start()
    return writers


def progress(writers: list[RegionTownWriter], steps: int = 20) -> None:
    """Wait until every writer has committed ``steps`` more times (or failed)."""
    targets = [(writer, writer.inserted + steps) for writer in writers]
    deadline = time.monotonic() + PROGRESS_DEADLINE
    while any(w.inserted < target and not w.errors for w, target in targets):
        assert time.monotonic() < deadline, "a writer stopped making progress"
        time.sleep(0.01)


def stop(writers: list[RegionTownWriter]) -> None:
    for writer in writers:
        writer.finish()


def release1_as_roles(conninfo: str, db: str) -> dict[str, str]:
    """Release 1 migrated by the app's owner role; each colour writes as a DML-only role,
    and release 2 is migrated by another role (a member of the owner). Returns the
    writers' connection strings by colour."""
    create_roles(conninfo, db)
    use_role("default", OWNER)
    migrate("atlas", "0001")
    with psycopg.connect(make_conninfo(conninfo, user=OWNER, password=PASSWORD)) as owner:
        tables = "atlas_region, atlas_town"
        owner.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON {tables} TO {BLUE}, {GREEN}")
    use_role("default", MIGRATOR)
    return {
        colour: make_conninfo(conninfo, user=role, password=PASSWORD)
        for colour, role in (("blue", BLUE), ("green", GREEN))
    }


@pytest.mark.parametrize("as_roles", [False, True], ids=["superuser", "production roles"])
def test_writers_of_both_colours_never_fail_through_expand_rollback_and_complete(
    db, conninfo, as_roles
):
    """The rename of a referenced table, with a column operation on the referencing one."""
    if as_roles:
        writers_of = release1_as_roles(conninfo, db)
    else:
        migrate("atlas", "0001")
        writers_of = {"blue": conninfo, "green": conninfo}
    blue = start(writers_of["blue"], "blue", "r1")
    progress(blue)
    migrate("atlas", "0002")  # expand, while blue writes
    green = start(writers_of["green"], "green", "r1")
    progress(blue + green)
    stop(green)
    compat("rollback", "--force")  # while blue writes; --force: green's sessions may linger
    progress(blue)
    migrate("atlas", "0002")  # expand again, while blue writes
    green_again = start(writers_of["green"], "green", "r2")
    progress(blue + green_again)
    stop(blue)
    compat("complete", "--force")  # while green writes
    progress(green_again)
    stop(green_again)

    writers = blue + green + green_again
    assert [e for w in writers for e in w.errors] == []
    towns = sorted(town for w in writers for town in w.towns)
    joined = "SELECT t.title, a.name FROM atlas_town t JOIN atlas_area a ON a.id = t.region_id"
    assert rows(f"{joined} ORDER BY 1") == towns
    regions = sorted({region for _, region in towns})
    assert rows("SELECT name FROM atlas_area ORDER BY 1") == [(r,) for r in regions]
    assert leftovers() == {}


class Step(threading.Thread):
    """``compat complete`` / ``compat rollback`` on its own connections."""

    def __init__(self, action: str) -> None:
        super().__init__(name=action, daemon=True)
        self.action, self.error = action, None

    def run(self) -> None:
        try:
            compat(self.action, "--force")  # the test's own Django sessions are connected
        except Exception as exc:  # reported by the test
            self.error = exc
        finally:
            connections.close_all()


def retries(caplog) -> int:
    return sum("lock busy, retrying" in r.message for r in caplog.records)


def wait_for_retries(caplog, step: Step, count: int) -> None:
    while retries(caplog) < count and step.is_alive():
        time.sleep(0.01)


@pytest.mark.parametrize("action, colour", [("rollback", "blue"), ("complete", "green")])
def test_a_reader_of_one_table_does_not_stall_writers_of_another(
    db, conninfo, caplog, action, colour
):
    """An idle transaction that read the regions keeps the step retrying; meanwhile the
    writer of towns, which the step locks first, gets through between its tries."""
    migrate("atlas", "0001")
    (region,) = rows("INSERT INTO atlas_region (name) VALUES ('north') RETURNING id")[0]
    # Towns first: the order of first touch (what steps used to follow) and the order
    # referencing-before-referenced agree that the regions are locked last.
    operations = [RenameCompatColumn("town", "name", "title"), RenameCompatModel("Region", "Area")]
    apply_operations(operations, "atlas", "0001_initial")
    connections.close_all()
    _, town_name = SHAPES[colour]
    options = f"-c search_path=compat_{colour},public"
    with (
        psycopg.connect(conninfo) as reader,  # not autocommit: idle in transaction
        psycopg.connect(conninfo, autocommit=True, options=options) as writer,
    ):
        reader.execute("SELECT count(*) FROM atlas_area")  # holds the regions until commit
        with caplog.at_level(logging.INFO, logger="compat_views"):
            step = Step(action)
            step.start()
            wait_for_retries(caplog, step, 1)
            for n in range(3):  # the towns' writer gets through while the step retries
                writer.execute(
                    f"INSERT INTO atlas_town ({town_name}, region_id) VALUES (%s, %s)",
                    [f"t{n}", region],
                )
            seen = retries(caplog)
            wait_for_retries(caplog, step, seen + 1)
            assert step.is_alive(), step.error  # still retrying, after the writes
            reader.commit()
            step.join()
    assert step.error is None
    assert rows("SELECT count(*) FROM atlas_town WHERE region_id = %s", [region]) == [(3,)]
    assert leftovers() == {}
