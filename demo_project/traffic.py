"""Traffic through both colours: a weighted router and a few threads of readers and writers.

The router is the load balancer of a blue/green deployment: the walkthrough shifts its
weights phase by phase. Each thread sends one request at a time to whichever colour the
router picks, in that colour's shape: create a book, update one, read one back (often one
the other colour wrote last) or list the newest. Writes go into the ledger, reads are
checked against it. Bounded in threads, requests and time, and loopback only.
"""

from __future__ import annotations

import itertools
import random
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager

from . import catalogue
from .client import Address, RequestFailed, call
from .ledger import Entry, Ledger
from .stats import Sample

THINK_S = 0.01  # pause between a thread's requests, so 2 cores keep room for the servers
MAX_REQUESTS = 200_000
MAX_SECONDS = 600.0
MAX_ERROR_SAMPLES = 50
LIST_LIMIT = 20


class Router:
    """Where the next request goes, and how many each colour has in flight."""

    def __init__(self) -> None:
        self._lock = threading.Condition()
        self._addresses: dict[str, Address] = {}
        self._weights: dict[str, int] = {}
        self._in_flight: Counter[str] = Counter()

    def add(self, colour: str, address: Address) -> None:
        with self._lock:
            self._addresses[colour] = address

    def set_weights(self, **weights: int) -> None:
        """Percent of new requests per colour, e.g. ``set_weights(blue=75, green=25)``."""
        with self._lock:
            missing = [c for c, w in weights.items() if w and c not in self._addresses]
            if missing:
                raise ValueError(f"no server for {missing}")
            self._weights = dict(weights)

    def live(self) -> list[str]:
        """The colours that get traffic now."""
        with self._lock:
            return [colour for colour, weight in self._weights.items() if weight]

    @contextmanager
    def pick(self, rng: random.Random) -> Iterator[tuple[str, Address] | None]:
        """A colour and its server for one request (None while no colour has weight)."""
        with self._lock:
            choice = None
            if any(self._weights.values()):
                (colour,) = rng.choices(list(self._weights), list(self._weights.values()))
                choice = colour, self._addresses[colour]
                self._in_flight[colour] += 1
        try:
            yield choice
        finally:
            if choice is not None:
                with self._lock:
                    self._in_flight[choice[0]] -= 1
                    self._lock.notify_all()

    def drain(self, colour: str, timeout_s: float = 30.0) -> bool:
        """Wait until ``colour`` (which should have weight 0 by now) has nothing in flight."""
        with self._lock:
            return self._lock.wait_for(lambda: not self._in_flight[colour], timeout_s)


class Traffic:
    """The generator: ``start`` it, shift the router's weights, ``stop`` it."""

    def __init__(
        self,
        router: Router,
        ledger: Ledger,
        t0: float,
        samples: list[Sample],
        threads: int,
        seed: int,
    ) -> None:
        """Each request appends a ``Sample`` to ``samples``, its time counted from ``t0``."""
        self.router, self.ledger, self.t0, self.samples = router, ledger, t0, samples
        self.error_samples: list[str] = []
        self._threads = [
            threading.Thread(target=self._run, args=(random.Random(seed + n),), daemon=True)
            for n in range(threads)
        ]
        self._stop = threading.Event()
        self._count = itertools.count()
        self._isbns = itertools.count(1)

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        """Let each thread finish its request in flight; idempotent, also before ``start``."""
        self._stop.set()
        for thread in self._threads:
            if thread.is_alive():
                thread.join()

    def _run(self, rng: random.Random) -> None:
        deadline = time.monotonic() + MAX_SECONDS
        while not self._stop.wait(THINK_S) and time.monotonic() < deadline:
            if next(self._count) >= MAX_REQUESTS:
                return
            with self.router.pick(rng) as choice:
                if choice is not None:
                    self._one_request(rng, *choice)

    def _one_request(self, rng: random.Random, colour: str, address: Address) -> None:
        """Send one request to ``colour`` and record its sample, whatever it was."""
        started = time.monotonic()
        ok = True
        try:
            self._act(rng, colour, address)
        except RequestFailed as exc:
            ok = False
            if len(self.error_samples) < MAX_ERROR_SAMPLES:
                self.error_samples.append(f"{colour}: {exc}")
        self.samples.append(
            Sample(started - self.t0, colour, (time.monotonic() - started) * 1000, ok)
        )

    def _act(self, rng: random.Random, colour: str, address: Address) -> None:
        action = rng.choices(("create", "update", "read", "list"), (3, 3, 3, 1))[0]
        if action == "list":
            self._list(colour, address)
            return
        entry = None
        if action == "read":  # preferably a book the other colour wrote last
            others = [c for c in catalogue.SHAPES if c != colour]
            entry = self.ledger.checkout(rng, written_by=rng.choice(others))
        elif action == "update":
            entry = self.ledger.checkout(rng)
        if entry is None:  # a create, or no idle book came up
            values = catalogue.new_book(colour, f"979-1-{next(self._isbns):08d}", rng)
            got = call(address, "POST", "/api/books/", values, expect=201)
            self.ledger.created(colour, got["id"], values)
        elif action == "read":
            try:
                got = call(address, "GET", f"/api/books/{entry.id}/")
                self.ledger.check_read(colour, entry, got)
            finally:
                self.ledger.release(entry)
        else:
            self._update(rng, colour, address, entry)

    def _list(self, colour: str, address: Address) -> None:
        """The newest books: served by ``colour``, in its release's fields."""
        got = call(address, "GET", f"/api/books/?limit={LIST_LIMIT}")
        fields = ["id", *catalogue.SHAPES[colour]]
        if (got["colour"], got["fields"]) != (colour, fields):
            self.ledger.mismatch(
                f"{colour}'s list came from {got['colour']} with fields {got['fields']}, "
                f"expected {fields}"
            )

    def _update(self, rng: random.Random, colour: str, address: Address, entry: Entry) -> None:
        changes = catalogue.edit(colour, entry.book, rng)
        try:
            call(address, "PATCH", f"/api/books/{entry.id}/", changes)
        except RequestFailed as exc:
            if exc.status is None:  # no answer: the update may or may not have happened
                self.ledger.lost_track(entry, f"{colour}'s update got no answer: {exc}")
            else:  # the server answered an error: its transaction rolled back
                self.ledger.release(entry)
            raise
        self.ledger.release(entry, colour, changes)
