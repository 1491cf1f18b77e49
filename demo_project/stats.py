"""Request samples summed up per colour: per phase for the table, per time bucket for the chart.

Pure functions over plain data, so the numbers in the report can be checked by hand.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

BUCKET_S = 0.5


@dataclass(frozen=True)
class Sample:
    """One request: when it started (seconds since the demo started), where, how long, ok."""

    t_s: float
    colour: str
    ms: float
    ok: bool


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (``q`` in 0..1) of sorted ``values``; 0 for none."""
    if not values:
        return 0.0
    return values[max(0, math.ceil(q * len(values)) - 1)]


def summary(samples: Iterable[Sample]) -> dict[str, Any]:
    samples = list(samples)
    latencies = sorted(sample.ms for sample in samples)
    return {
        "requests": len(samples),
        "errors": sum(not sample.ok for sample in samples),
        "p50_ms": round(percentile(latencies, 0.50), 2),
        "p99_ms": round(percentile(latencies, 0.99), 2),
    }


def by_colour(samples: Iterable[Sample]) -> dict[str, dict[str, Any]]:
    """A summary per colour that served requests; a colour without any is left out."""
    groups: dict[str, list[Sample]] = defaultdict(list)
    for sample in samples:
        groups[sample.colour].append(sample)
    return {colour: summary(group) for colour, group in sorted(groups.items())}


def in_window(samples: Iterable[Sample], start_s: float, end_s: float) -> list[Sample]:
    """The requests that started in [start_s, end_s)."""
    return [sample for sample in samples if start_s <= sample.t_s < end_s]


def timeline(samples: Iterable[Sample], bucket_s: float = BUCKET_S) -> list[dict[str, Any]]:
    """One point per colour per ``bucket_s`` of time with traffic, in time order."""
    buckets: dict[tuple[int, str], list[Sample]] = defaultdict(list)
    for sample in samples:
        buckets[int(sample.t_s // bucket_s), sample.colour].append(sample)
    return [
        {"t_s": round(index * bucket_s, 3), "colour": colour, **summary(group)}
        for (index, colour), group in sorted(buckets.items())
    ]
