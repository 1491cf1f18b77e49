"""Latency spikes in a run's timeline, each set beside what the run was doing at the time.

A spike alone says nothing; lined up with the phase it fell in, the step that ran (a
``migrate``, a server starting) and the locks the watcher saw held and waited for, it
says what caused it. Pure functions over the JSON-ready result, so a saved run can be
explained again and the reasoning checked by hand.

A bucket of the timeline holds the requests that *started* in it, so a request that
waited for a lock shows in the bucket where it began: each bucket is matched with what
ran from its start until its slowest request could have ended.
"""

from __future__ import annotations

import re
import statistics
from collections.abc import Iterable, Mapping
from typing import Any

SPIKE_MIN_MS = 50.0  # below this a p99 is no spike, whatever the baseline
SPIKE_FACTOR = 3.0  # a spike is this many times the colour's typical (median) bucket p99
COLD_S = 1.0  # a colour's first requests, this long after its first: connections opening
BOUNDARY_S = 1.0  # a spike this soon after a phase starts is at that phase's boundary
QUERY_CHARS = 90  # of each statement a lock holder was seen running

# What takes the ACCESS EXCLUSIVE lock in each command of a rollout, in its own words.
WHY_EXCLUSIVE = {
    "manage.py migrate": "the expand's DDL (renames, new and moved-aside columns, the sync "
    "triggers, the legacy view) runs in the migration's transaction, which holds ACCESS "
    "EXCLUSIVE on the table until it commits",
    "manage.py compat complete": "complete's final transaction drops the legacy view and "
    "schema, the sync triggers and the retained legacy columns under ACCESS EXCLUSIVE",
    "manage.py compat rollback": "rollback's transaction renames the columns back, drops "
    "the new ones, the sync triggers and the legacy view under ACCESS EXCLUSIVE",
}


def find(timeline: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The buckets whose p99 stands out from their colour's typical p99, in time order."""
    by_colour: dict[str, list[Mapping[str, Any]]] = {}
    for sample in timeline:
        if sample.get("requests"):
            by_colour.setdefault(str(sample["colour"]), []).append(sample)
    found = []
    for colour, samples in by_colour.items():
        typical = statistics.median(float(s["p99_ms"]) for s in samples)
        threshold = max(SPIKE_MIN_MS, SPIKE_FACTOR * typical)
        first = min(float(s["t_s"]) for s in samples)
        found += [
            {
                "t_s": float(s["t_s"]),
                "colour": colour,
                "p99_ms": float(s["p99_ms"]),
                "typical_ms": round(typical, 2),
                "requests": int(s["requests"]),
                "since_first_s": round(float(s["t_s"]) - first, 3),
            }
            for s in samples
            if float(s["p99_ms"]) >= threshold
        ]
    return sorted(found, key=lambda s: (s["t_s"], s["colour"]))


def _overlaps(item: Mapping[str, Any], start: str, end: str, lo: float, hi: float) -> bool:
    return float(item[start]) <= hi and float(item[end]) >= lo


def _command(app: str) -> str:
    """``manage.py migrate`` from the application_name ``compat_green:manage.py migrate``
    (or from the watcher's ``… running: <query>``); empty for anything else."""
    _, found, rest = app.split(" running: ")[0].partition("manage.py ")
    return f"manage.py {rest}" if found else ""


def _seen(interval: Mapping[str, Any]) -> str:
    start, end = float(interval["from_s"]), float(interval["to_s"])
    return f"at {start:.2f} s" if end == start else f"{start:.2f}–{end:.2f} s"


def explain(result: Mapping[str, Any], bucket_s: float) -> list[dict[str, Any]]:
    """Each spike with its phase, a cause and the evidence for it, strongest first:
    requests of its colour seen waiting for a lock, an ACCESS EXCLUSIVE lock held, the
    colour's first requests, a step running alongside, or nothing the run can name."""
    locks = result.get("locks") or {}
    period = float(locks.get("period_s", 0))
    intervals = list(locks.get("intervals") or ())
    steps = list(result.get("steps") or ())
    phases = list(result.get("phases") or ())
    explained = []
    for spike in find(result.get("timeline") or ()):
        lo = spike["t_s"] - period
        hi = spike["t_s"] + bucket_s + spike["p99_ms"] / 1000 + period
        middle = spike["t_s"] + bucket_s / 2  # the bucket's phase: where most of it lies
        phase = next((p for p in phases if float(p["start_s"]) <= middle < float(p["end_s"])), None)
        near = [i for i in intervals if _overlaps(i, "from_s", "to_s", lo, hi)]
        waits = [
            i
            for i in near
            if not i["granted"] and str(i["app"]).startswith(f"compat_{spike['colour']}")
        ]
        held = [i for i in near if i["granted"] and i["mode"] == "AccessExclusiveLock"]
        running = [s for s in steps if _overlaps(s, "from_s", "to_s", lo, hi)]
        evidence = [
            f"{spike['colour']} requests waited for {w['mode']} on {w['relation']} "
            f"({_seen(w)}), blocked by {w['blocker']}"
            for w in merge([{**w, "blocker": _blocker(w)} for w in waits], ("relation", "blocker"))
        ]
        evidence += [
            f"{h['app']} held {h['mode']} on {h['relation']} ({_seen(h)}); its session was "
            f"running: {'; '.join(q[:QUERY_CHARS] for q in h['queries']) or '(nothing seen)'}"
            for h in merge(held, ("app", "relation"))
        ]
        evidence += [f"step {s['what']} ran {s['from_s']:.2f}–{s['to_s']:.2f} s" for s in running]
        into = spike["t_s"] - float(phase["start_s"]) if phase else None
        explained.append(
            {
                **spike,
                "phase": phase["name"] if phase else "",
                "boundary": into is not None and into < BOUNDARY_S,
                "cause": _cause(spike, waits, held, running, period),
                "evidence": evidence,
            }
        )
    return explained


def lock_mode(mode: str) -> str:
    """``AccessExclusiveLock`` as the documentation spells it: ``ACCESS EXCLUSIVE``."""
    return re.sub(r"(?<!^)(?=[A-Z])", " ", mode.removesuffix("Lock")).upper()


def _blocker(wait: Mapping[str, Any]) -> str:
    """Who held what the wait was for: the application names, without their queries."""
    names = [part.split(" running: ")[0] for part in str(wait["blocked_by"]).split("; ")]
    return ", ".join(dict.fromkeys(name for name in names if name)) or "a session already gone"


def merge(items: Iterable[Mapping[str, Any]], keys: tuple[str, ...]) -> list[dict[str, Any]]:
    """One item per combination of ``keys``, spanning the earliest start to the latest
    end, its lock modes joined; ``count``: how many intervals it merged."""
    merged: dict[tuple[Any, ...], dict[str, Any]] = {}
    for item in items:
        key = tuple(item[k] for k in keys)
        mode = lock_mode(str(item["mode"]))
        if key not in merged:
            merged[key] = {**item, "mode": mode, "count": 1}
            continue
        found = merged[key]
        found["count"] += 1
        found["from_s"] = min(found["from_s"], item["from_s"])
        found["to_s"] = max(found["to_s"], item["to_s"])
        if mode not in found["mode"].split(", "):
            found["mode"] += f", {mode}"
    return list(merged.values())


def _cause(
    spike: Mapping[str, Any],
    waits: list[Mapping[str, Any]],
    held: list[Mapping[str, Any]],
    running: list[Mapping[str, Any]],
    period: float,
) -> str:
    holders = [_command(str(i["blocked_by"] or "")) for i in waits]
    holders += [_command(str(i["app"])) for i in held]
    command = next((c for c in holders if c), "")
    if waits or held:
        what = "waited for a lock" if waits else "ran into an ACCESS EXCLUSIVE lock"
        why = WHY_EXCLUSIVE.get(command, "")
        return f"lock: {spike['colour']}'s requests {what}" + (f" — {why}" if why else "")
    if spike["since_first_s"] < COLD_S:
        return (
            f"cold start: {spike['colour']}'s first requests, while each server thread opens "
            "its database connection"
        )
    if running:
        names = ", ".join(str(s["what"]) for s in running)
        return (
            f"CPU: no lock wait seen (sampled every {period * 1000:.0f} ms) while {names} ran; "
            "its process shares the machine's cores with both servers and PostgreSQL"
        )
    return "no step, lock or cold start of the run lines up: noise on a shared machine"
