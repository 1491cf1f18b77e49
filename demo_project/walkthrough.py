"""The scripted rollout: each phase announced as it happens, traffic throughout, then the proof.

Release 1 serves as blue; release 2 runs ``migrate`` (the expand) while blue serves; green
starts and the router shifts traffic to it step by step; blue stops and ``compat
complete`` runs while green serves. With ``rollback`` the traffic goes back to blue,
green stops and ``compat rollback`` runs instead. Whatever happens, the run ends with every
book the traffic wrote read back from the table in the final shape, and a result dict for
the report.
"""

from __future__ import annotations

import json
import random
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from psycopg.conninfo import conninfo_to_dict

from . import catalogue, machine, stats
from .books_table import TABLE, BooksTable
from .client import RequestFailed, call
from .database import fresh_database
from .deployment import CommandFailed, Deployment, Server, print_indented
from .ledger import Ledger
from .traffic import Router, Traffic
from .watch import LockWatch

SEED = 20240601  # the same books and the same traffic mix on every run
FINAL_COLUMNS = {
    "complete": ["id", "isbn", "name", "price", "slug"],
    "rollback": ["format", "id", "isbn", "price_cents", "title"],
}


@dataclass(frozen=True)
class Options:
    rollback: bool = False
    quick: bool = False
    break_trigger: bool = False  # for testing the checker: the run must then fail


@dataclass(frozen=True)
class Pace:
    phase_s: float  # how long traffic runs in each phase that only waits
    shelf: int  # books the shop has before the rollout: rows for the backfill to walk
    threads: int  # traffic threads


PACES = {
    "full": Pace(phase_s=8.0, shelf=20_000, threads=4),
    "quick": Pace(phase_s=1.5, shelf=300, threads=3),
}
SHIFTS = {"complete": ((75, 25), (50, 50), (25, 75), (0, 100)), "rollback": ((75, 25), (50, 50))}


class Phases:
    """The narration: announce each phase as it starts; when it ends, say how its traffic did."""

    def __init__(self) -> None:
        self.t0 = time.monotonic()
        self.samples: list[stats.Sample] = []  # the traffic's, one per request
        self.done: list[dict[str, Any]] = []
        self.steps: list[dict[str, Any]] = []  # what ran, when: for the spikes to line up with
        self._current: dict[str, Any] | None = None

    def now(self) -> float:
        return round(time.monotonic() - self.t0, 3)

    @property
    def current(self) -> str:
        return self._current["name"] if self._current else ""

    @contextmanager
    def step(self, what: str) -> Iterator[None]:
        """Time one thing the walkthrough does (a command, a server starting or stopping)."""
        step = {"what": what, "phase": self.current, "from_s": self.now()}
        try:
            yield
        finally:
            self.steps.append({**step, "to_s": self.now()})

    def begin(self, name: str, what: str, weights: dict[str, int] | None = None) -> None:
        """Start the next phase; ``weights``: the router's percent per colour, if it shifts."""
        self.end()
        self._current = {"name": name, "what": what, "start_s": self.now()}
        if weights is not None:
            self._current["weights"] = weights
        print(f"\n==> phase: {name}: {what}", flush=True)

    def end(self) -> None:
        if self._current is None:
            return
        phase, self._current = {**self._current, "end_s": self.now()}, None
        window = stats.in_window(list(self.samples), phase["start_s"], phase["end_s"])
        phase["colours"] = stats.by_colour(window)
        self.done.append(phase)
        for colour, numbers in phase["colours"].items():
            print(
                f"  traffic on {colour}: {numbers['requests']} requests, "
                f"{numbers['errors']} errors, p50 {numbers['p50_ms']:.0f} ms, "
                f"p99 {numbers['p99_ms']:.0f} ms"
            )


class Walkthrough:
    """The two deployments, the router and traffic between them, and the phases in order."""

    def __init__(self, options: Options, phases: Phases, database_url: str, log_dir: Path) -> None:
        self.options = options
        self.path = "rollback" if options.rollback else "complete"
        self.pace = PACES["quick" if options.quick else "full"]
        self.log_dir = log_dir
        self.blue = Deployment(catalogue.RELEASES["blue"], "blue", database_url)
        self.green = Deployment(catalogue.RELEASES["green"], "green", database_url)
        self.table = BooksTable(database_url)
        self.ledger = Ledger()
        self.router = Router()
        self.phases = phases
        self.traffic = Traffic(
            self.router, self.ledger, phases.t0, phases.samples, self.pace.threads, SEED
        )
        self.checks: list[dict[str, Any]] = []
        self.snapshots: list[dict[str, Any]] = []
        self.final_columns: list[str] = []
        self.rows_verified = 0

    def check(self, ok: bool, what: str, detail: str = "") -> None:
        """Print and keep one check; a failed one fails the run, but the run goes on."""
        print(f"  {'ok  ' if ok else 'FAIL'} {what}" + (f"\n       {detail}" if not ok else ""))
        self.checks.append({"what": what, "ok": ok, "detail": detail, "phase": self.phases.current})

    def manage(self, deployment: Deployment, *args: str, echo: bool = True) -> str:
        with self.phases.step(f"[{deployment.label}] manage.py {' '.join(args)}"):
            return deployment.manage(*args, echo=echo)

    def serve(self, stack: ExitStack, deployment: Deployment) -> Server:
        with self.phases.step(f"[{deployment.label}] gunicorn starts"):
            return stack.enter_context(deployment.serve(self.log_dir))

    def snapshot(self, deployment: Deployment, label: str) -> None:
        """Keep ``compat status`` (its text and its JSON) and the table's columns as they
        are now: the report shows the schema phase by phase from these."""
        text = self.manage(deployment, "compat", "status")
        data = json.loads(self.manage(deployment, "compat", "status", "--json", echo=False))
        self.snapshots.append(
            {
                "label": label,
                "phase": self.phases.current,
                "at_s": self.phases.now(),
                "text": text.rstrip(),
                "status": data,
                "columns": self.table.columns(),
                "legacy_view": self.table.columns(f"compat_blue.{TABLE}"),
            }
        )

    def serving(self, server: Server, relation: str) -> None:
        """Check what ``server`` reads: which relation, and in its release's fields."""
        colour = server.deployment.colour
        fields = ["id", *catalogue.SHAPES[colour]]
        what = f"{server.deployment.label} reads {relation}: {', '.join(fields)}"
        try:
            got = call(server.address, "GET", "/api/books/?limit=0")
        except RequestFailed as exc:
            self.check(False, what, str(exc))
            return
        self.check(
            (got["colour"], got["relation"], got["fields"]) == (colour, relation, fields),
            what,
            f"it is {got['colour']} reading {got['relation']}: {', '.join(got['fields'])}",
        )

    def shift(self, blue: int, green: int, what: str, name: str = "") -> None:
        weights = {"blue": blue, "green": green}
        self.phases.begin(name or f"shift {blue}/{green}", what, weights)
        self.router.set_weights(**weights)
        time.sleep(self.pace.phase_s)

    def run(self, stack: ExitStack) -> None:
        phases = self.phases
        self.manage(self.blue, "migrate")
        shelf = catalogue.shelf(self.pace.shelf, random.Random(SEED))
        with phases.step(f"COPY {len(shelf)} books into {TABLE}"):
            ids = self.table.load(shelf)
        for book_id, values in zip(ids, shelf, strict=True):
            self.ledger.created("blue", book_id, values)
        self.snapshot(self.blue, "before the rollout")

        phases.begin("blue serves", "release 1 starts under gunicorn as blue and takes all traffic")
        blue = self.serve(stack, self.blue)
        self.router.add("blue", blue.address)
        self.router.set_weights(blue=100, green=0)
        self.traffic.start()
        self.serving(blue, f"public.{TABLE}")
        time.sleep(self.pace.phase_s)

        phases.begin("expand", "release 2 runs `manage.py migrate` as green while blue serves")
        self.manage(self.green, "migrate")
        if self.options.break_trigger:
            broken = self.table.break_sync_trigger()
            print(f"  !! --break-trigger: {', '.join(broken) or 'nothing'} now only RETURN NEW")
        self.serving(blue, f"compat_blue.{TABLE}")
        self.snapshot(self.green, "after the expand and its backfill")
        time.sleep(self.pace.phase_s)

        phases.begin("start green", "release 2 starts under gunicorn as green; no traffic yet")
        green = self.serve(stack, self.green)
        self.router.add("green", green.address)
        self.serving(green, f"public.{TABLE}")
        self.show_one_book(blue, green)

        for weights in SHIFTS[self.path]:
            self.shift(*weights, f"{weights[0]}% of requests to blue, {weights[1]}% to green")
        if self.options.rollback:
            self.shift(100, 0, "release 2 is withdrawn: all traffic back to blue", "shift back")
            self.retire(green, "green")
            phases.begin("rollback", "`compat rollback` while blue serves; every row stays")
            self.end_rollout("rollback")
            phases.begin("blue alone", "release 1 alone, on the real table again")
            self.serving(blue, f"public.{TABLE}")
        else:
            self.retire(blue, "blue")
            phases.begin("complete", "`compat complete` while green serves")
            self.end_rollout("complete")
            phases.begin("green alone", "release 2 alone, on the final shape")
            self.serving(green, f"public.{TABLE}")
        time.sleep(self.pace.phase_s)
        self.traffic.stop()

        survivor = self.blue if self.options.rollback else self.green
        phases.begin("verify", f"every book written, read back in {survivor.label}'s shape")
        self.verify(survivor)
        phases.end()

    def show_one_book(self, blue: Server, green: Server) -> None:
        """One book of the shelf, as each colour reads it at the same moment."""
        book_id = min(self.ledger.entries)
        for server in (blue, green):
            try:
                got = json.dumps(call(server.address, "GET", f"/api/books/{book_id}/"))
            except RequestFailed as exc:
                got = str(exc)  # the traffic's own checks will say what is wrong
            print(f"  book {book_id} as {server.deployment.label} reads it: {got}")

    def retire(self, server: Server, colour: str) -> None:
        self.phases.begin(
            f"stop {colour}", f"{colour} has no traffic left; its gunicorn stops, its sessions go"
        )
        self.check(self.router.drain(colour), f"no request left in flight on {colour}")
        with self.phases.step(f"[{server.deployment.label}] gunicorn stops"):
            server.stop()
            left = self.table.wait_until_gone(colour)
        self.check(not left, f"no {colour} session left in the database", f"{left} still there")

    def end_rollout(self, how: str) -> None:
        """``compat complete`` / ``compat rollback``; a failure is reported, and the run goes
        on to check the rows anyway."""
        self.snapshot(self.green, f"before `compat {how}`")
        try:
            self.manage(self.green, "compat", how)
        except CommandFailed as exc:
            print_indented(str(exc))
            self.check(False, f"compat {how} succeeds", exc.summary)

    def verify(self, survivor: Deployment) -> None:
        self.final_columns = self.table.columns()
        want = FINAL_COLUMNS[self.path]
        self.check(
            sorted(self.final_columns) == want,
            f"{TABLE} has release {2 - self.options.rollback}'s columns: "
            f"{', '.join(self.final_columns)}",
            f"expected {', '.join(want)}",
        )
        shape = "blue" if self.options.rollback else "green"
        self.rows_verified = self.ledger.verify(shape, self.table.rows())
        written = len(self.ledger.entries)
        self.check(
            self.rows_verified == written,
            f"{self.rows_verified} of {written} books written are in the table, as written",
            "; ".join(self.ledger.all_mismatches()[:3]),
        )
        for colour, other in (("blue", "green"), ("green", "blue")):
            print(f"  {colour} read {self.ledger.cross_reads[colour]} books {other} wrote last")
        self.snapshot(survivor, f"after `compat {self.path}`")
        status = self.snapshots[-1]["status"]
        leftovers = {kind: names for kind, names in status["leftovers"].items() if names}
        self.check(status["rollout"] is None, "no rollout is pending")
        self.check(not leftovers, "nothing of the compat layer is left", f"left: {leftovers}")
        applied = self.table.migration_applied()
        self.check(
            applied != self.options.rollback,
            "bookshop.0002_rollout is " + ("unrecorded" if self.options.rollback else "applied"),
        )

    def result(self, duration_s: float, locks: dict[str, Any], aborted: str = "") -> dict[str, Any]:
        samples = list(self.traffic.samples)
        failed = [
            f"{c['what']}: {c['detail']}" if c["detail"] else c["what"]
            for c in self.checks
            if not c["ok"]
        ]
        return {
            "path": self.path,
            "quick": self.options.quick,
            "break_trigger": self.options.break_trigger,
            "errors": sum(not sample.ok for sample in samples),
            "requests": len(samples),
            "rows_written": len(self.ledger.entries),
            "rows_verified": self.rows_verified,
            "mismatches": [*([aborted] if aborted else []), *failed, *self.ledger.all_mismatches()],
            "duration_s": round(duration_s, 2),
            "final_columns": self.final_columns,
            "cross_reads": dict(self.ledger.cross_reads),
            "writes": _writes(self.ledger),
            "shelf": self.pace.shelf,
            "phases": self.phases.done,
            "timeline": stats.timeline(samples),
            "error_samples": self.traffic.error_samples,
            "checks": self.checks,
            "steps": self.phases.steps,
            "snapshots": self.snapshots,
            "locks": locks,
            "machine": machine.describe(self.table.server()),
        }


def _writes(ledger: Ledger) -> dict[str, dict[str, int]]:
    """Creates and updates per colour, as the ledger recorded them (blue's creates count
    the shelf loaded before the traffic started)."""
    counts = {colour: {"creates": 0, "updates": 0} for colour in catalogue.SHAPES}
    for entry in ledger.entries.values():
        for n, (colour, _) in enumerate(entry.writes):
            counts[colour]["creates" if n == 0 else "updates"] += 1
    return counts


def passed(result: dict[str, Any]) -> bool:
    """Zero failed requests and every written row read back as written, nothing else wrong."""
    return (
        result["errors"] == 0
        and result["rows_verified"] == result["rows_written"]
        and not result["mismatches"]
    )


def main(options: Options) -> dict[str, Any]:
    """Run the walkthrough on a database of its own; everything it started is gone after."""
    phases = Phases()
    shelf = PACES["quick" if options.quick else "full"].shelf
    phases.begin(
        "setup",
        f"a fresh database; release 1 migrates as blue; the shop's {shelf} books are loaded "
        "in its shape (title, price_cents, format)",
    )
    with ExitStack() as stack:
        database_url = stack.enter_context(fresh_database())
        where = conninfo_to_dict(database_url)
        print(f"  database {where['dbname']} on {where.get('host')}:{where.get('port')}")
        log_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="compat_demo_")))
        walkthrough = Walkthrough(options, phases, database_url, log_dir)
        stack.callback(walkthrough.table.close)
        watch = LockWatch(database_url, TABLE, phases.t0)
        stack.callback(watch.stop)
        watch.start()
        aborted = ""
        try:
            walkthrough.run(stack)
        except CommandFailed as exc:
            aborted = f"aborted: {exc.summary}"
            print(f"\n==> FAILED: {exc}")
        finally:
            walkthrough.traffic.stop()
            watch.stop()
            phases.end()
        if walkthrough.traffic.error_samples:
            _show_errors(walkthrough.traffic.error_samples, log_dir)
        return walkthrough.result(time.monotonic() - phases.t0, watch.summary(), aborted)


def _show_errors(errors: Sequence[str], log_dir: Path) -> None:
    """Failed requests, and the end of each server's log: the traceback behind a 500."""
    print("\n==> failed requests (first few):")
    print_indented("\n".join(errors[:10]))
    for log in sorted(log_dir.glob("*.log")):
        print(f"--- last lines of {log.name}")
        print_indented("\n".join(log.read_text(errors="replace").splitlines()[-15:]))
