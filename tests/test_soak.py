"""Soak (``make soak``, marker ``soak``): writer processes of both colours through a whole
rollout, twice — expand with its backfill, rollback, expand again, complete — and a ledger
of every row checked at the end: zero errors, zero rows lost or wrong.

Each colour runs several processes (``tests.writers``) doing a mix of inserts, updates,
deletes, upserts and ``SELECT … FOR UPDATE`` (checked against the ledger) on rows they
own. As in a deployment, green writes only while its release is deployed (after the
expand) and stops before the rollback; blue stops before complete. The table is checked
in full, every writer stopped, after the rollback (old shape) and at the end (new shape).
Its length is set by ``COMPAT_VIEWS_SOAK_PHASE_S`` (seconds of traffic per phase).
"""

from __future__ import annotations

import multiprocessing
import os
import time
from collections import Counter

import pytest
from django.test import override_settings

from tests import writers
from tests.harness import compat, leftovers, migrate, rows
from tests.test_faults import Ledger, shop  # noqa: F401 (a fixture)

pytestmark = pytest.mark.soak

PHASE_S = float(os.environ.get("COMPAT_VIEWS_SOAK_PHASE_S", "45"))
PROCESSES = int(os.environ.get("COMPAT_VIEWS_SOAK_PROCESSES", "3"))  # per colour
SEED = 30_000
BATCH = 1000  # backfill batches, so that the walk overlaps the writers
INDEXES = {"blue": range(PROCESSES), "green": range(PROCESSES, 2 * PROCESSES)}


class Soak:
    """The rows each writer owns (its index -> its rows) between phases, and the tallies."""

    def __init__(self, conninfo: str) -> None:
        self.conninfo = conninfo
        self.context = multiprocessing.get_context("spawn")  # no Django state in the children
        self.slices: dict[int, dict[int, list]] = {i: {} for i in range(2 * PROCESSES)}
        self.phase = 0
        self.ops: dict[str, Counter[str]] = {colour: Counter() for colour in INDEXES}
        self.errors: list[str] = []
        self.mismatches: list[str] = []
        self.error_count = self.mismatch_count = 0
        self.verified = 0

    def seed(self) -> None:
        ledger = Ledger()
        ledger.seed(SEED)
        for row_id, row in ledger.rows.items():
            self.slices[row_id % (2 * PROCESSES)][row_id] = row

    def start(self, colour: str) -> tuple:
        self.phase += 1
        stop, results = self.context.Event(), self.context.Queue()
        processes = [
            self.context.Process(
                target=writers.run,
                args=(self.conninfo, colour, i, self.phase, self.slices[i], stop, results),
                name=f"soak-{colour}{i}",
            )
            for i in INDEXES[colour]
        ]
        for process in processes:
            process.start()
        return colour, processes, stop, results

    def stop(self, fleet: tuple) -> None:
        """Stop the fleet, take back its rows and tallies, and wait for its sessions."""
        colour, processes, stop, results = fleet
        stop.set()
        for _ in processes:
            result = results.get(timeout=120)
            self.slices[result["index"]] = result["owned"]
            self.ops[colour].update(result["counts"])
            self.errors += result["errors"]
            self.mismatches += result["mismatches"]
            self.error_count += result["error_count"]
            self.mismatch_count += result["mismatch_count"]
        for process in processes:
            process.join(timeout=60)
            assert process.exitcode == 0, f"{process.name} exited with {process.exitcode}"
        query = "SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE %s"
        deadline = time.monotonic() + 30
        while rows(query, [f"compat_{colour}:soak-%"])[0][0]:
            assert time.monotonic() < deadline, f"{colour}'s writer sessions did not end"
            time.sleep(0.02)

    def check(self, ending: str) -> None:
        """Every row, every writer stopped: in the old shape after a rollback, else in the
        new. A rollback dropped the new columns: the owed rows forget them (the next
        expand derives them again)."""
        ledger = Ledger()
        ledger.rows = {i: row for owned in self.slices.values() for i, row in owned.items()}
        if ending == "rollback":
            for row in ledger.rows.values():
                row[2:] = [None, None]
            ledger.verify_legacy("public.shop_order")
        else:
            ledger.verify_new()
        self.verified += len(ledger.rows)


def test_soak_both_colours_through_rollback_and_complete(db, conninfo, shop):  # noqa: F811
    started = time.monotonic()
    soak = Soak(conninfo)
    migrate("shop", "0001", database="legacy")
    soak.seed()
    with override_settings(COMPAT_VIEWS_BACKFILL_BATCH_SIZE=BATCH):
        for ending in ("rollback", "complete"):
            fleets = {"blue": soak.start("blue")}
            time.sleep(PHASE_S / 2)
            migrate("shop", "0002")  # expand and backfill, blue writing
            fleets["green"] = soak.start("green")
            time.sleep(PHASE_S)
            # The release that goes away stops first; the other writes through the end.
            gone, serving = ("green", "blue") if ending == "rollback" else ("blue", "green")
            soak.stop(fleets[gone])
            compat(ending)
            time.sleep(PHASE_S / 2)
            soak.stop(fleets[serving])
            soak.check(ending)
    assert leftovers() == {}

    per_colour = "; ".join(
        f"{colour}: {PROCESSES} processes, {sum(ops.values()):,} operations ("
        + ", ".join(f"{ops[name]:,} {name}" for name in writers.OPERATIONS)
        + ")"
        for colour, ops in soak.ops.items()
    )
    print(
        f"\nsoak summary: {time.monotonic() - started:.0f} s through expand, backfill, "
        f"rollback, expand, backfill and complete, on {SEED:,} seeded rows; {per_colour}; "
        f"{soak.error_count} errors, {soak.mismatch_count} wrong reads; {soak.verified:,} rows "
        "verified against the ledger (after the rollback in the old shape, at the end in the "
        "new one), none lost or wrong."
    )
    assert (soak.errors, soak.mismatches) == ([], [])
    assert all(sum(ops.values()) > 0 for ops in soak.ops.values())
