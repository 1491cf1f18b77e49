"""Settings, one lazy getter each (read at call time so tests can override them).

| setting | default | meaning |
|---|---|---|
| COMPAT_VIEWS_COLOUR | env COMPAT_VIEWS_COLOUR | this process's colour |
| COMPAT_VIEWS_COLOURS | ("blue", "green") | the deployment slots |
| COMPAT_VIEWS_LEGACY_COLOUR | the other colour | needed only with more than two colours |
| COMPAT_VIEWS_PLAIN_MIGRATIONS | False | compat operations run plain on every table (``fresh``) |
| COMPAT_VIEWS_LOCK_TIMEOUT_MS | 500 | how long a rollout step waits for its locks |
| COMPAT_VIEWS_DDL_ATTEMPTS | 30 | tries per rollout step before giving up |
| COMPAT_VIEWS_DDL_MAX_BACKOFF | 5.0 | longest pause between tries, seconds |
| COMPAT_VIEWS_BACKFILL_BATCH_SIZE | None (adaptive) | rows per backfill transaction, fixed |
| COMPAT_VIEWS_BACKFILL_BATCH_TARGET_MS | 200 | how long an adaptive batch aims to take |
| COMPAT_VIEWS_BACKFILL_MAX_REPLICA_LAG | None | pause while a replica lags more ("16MB", "5s") |
| COMPAT_VIEWS_BACKFILL_MAX_WAL_RATE | None | WAL the batches may write per second ("8MB") |
| COMPAT_VIEWS_BACKFILL_PAUSE | 0.0 | seconds to sleep between backfill batches |
| COMPAT_VIEWS_BACKFILL_SKIP_TRIGGERS | True | backfill batches skip triggers, if allowed |
| COMPAT_VIEWS_AUTODETECTOR | False | makemigrations writes compat operations |
"""

from __future__ import annotations

import os
import re

from django.conf import settings

from .errors import ConfigurationError

_COLOUR_RE = re.compile(r"^[a-z][a-z0-9_]{0,40}$")


def _get(name: str, default):
    return getattr(settings, name, default)


def colours() -> tuple[str, ...]:
    configured = tuple(_get("COMPAT_VIEWS_COLOURS", ("blue", "green")))
    for colour in configured:
        if not _COLOUR_RE.match(colour):
            raise ConfigurationError(
                f"COMPAT_VIEWS_COLOURS entry {colour!r} is not a lowercase identifier "
                "(letters, digits, underscores, at most 41 characters): rename it."
            )
    if len(set(configured)) < 2:
        raise ConfigurationError("COMPAT_VIEWS_COLOURS needs at least two distinct colours.")
    return configured


def colour(settings_dict: dict | None = None) -> str | None:
    """The colour of this process, or of one database alias that overrides it.

    A ``COMPAT_VIEWS_COLOUR`` key in a DATABASES entry wins over the setting, which
    wins over the environment variable: the override lets one process (a test, an
    admin tool) hold connections of both colours.
    """
    value = (settings_dict or {}).get("COMPAT_VIEWS_COLOUR") or _get("COMPAT_VIEWS_COLOUR", None)
    value = value or os.environ.get("COMPAT_VIEWS_COLOUR") or None
    if value is not None and value not in colours():
        raise ConfigurationError(
            f"COMPAT_VIEWS_COLOUR is {value!r}, which is not one of COMPAT_VIEWS_COLOURS "
            f"{colours()}: set it to one of them."
        )
    return value


def require_colour(settings_dict: dict | None = None) -> str:
    value = colour(settings_dict)
    if value is None:
        raise ConfigurationError(
            "No colour is configured for this process: set COMPAT_VIEWS_COLOUR (Django setting "
            f"or environment variable) to one of {colours()} before running compat migrations."
        )
    return value


def legacy_colour_for(new_colour: str) -> str:
    explicit = _get("COMPAT_VIEWS_LEGACY_COLOUR", None) or os.environ.get(
        "COMPAT_VIEWS_LEGACY_COLOUR"
    )
    others = [c for c in colours() if c != new_colour]
    if explicit:
        if explicit not in others:
            raise ConfigurationError(
                f"COMPAT_VIEWS_LEGACY_COLOUR {explicit!r} must be one of {tuple(others)}."
            )
        return explicit
    if len(others) != 1:
        raise ConfigurationError(
            f"With colours {colours()} the legacy colour is ambiguous: set "
            "COMPAT_VIEWS_LEGACY_COLOUR to the colour still serving the previous release."
        )
    return others[0]


def plain_migrations() -> bool:
    return bool(_get("COMPAT_VIEWS_PLAIN_MIGRATIONS", False))


def lock_timeout_ms() -> int:
    return int(_get("COMPAT_VIEWS_LOCK_TIMEOUT_MS", 500))


def ddl_attempts() -> int:
    return max(1, int(_get("COMPAT_VIEWS_DDL_ATTEMPTS", 30)))


def ddl_max_backoff() -> float:
    return float(_get("COMPAT_VIEWS_DDL_MAX_BACKOFF", 5.0))


def backfill_batch_size() -> int | None:
    """The fixed batch size, or None: batches sized to take ``backfill_batch_target_ms``."""
    size = _get("COMPAT_VIEWS_BACKFILL_BATCH_SIZE", None)
    return None if size is None else max(1, int(size))


def backfill_batch_target_ms() -> float:
    return max(1.0, float(_get("COMPAT_VIEWS_BACKFILL_BATCH_TARGET_MS", 200)))


BYTE_UNITS = {"B": 1, "kB": 1024, "MB": 1024**2, "GB": 1024**3, "TB": 1024**4}
_SECONDS = {"ms": 0.001, "s": 1.0, "min": 60.0}
_AMOUNT_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$")


def _amount(name: str, units: dict[str, float], example: str) -> tuple[float, str] | None:
    """A setting given as a number of bytes or as a string with one of ``units``
    (Postgres's own spelling: ``kB``, ``MB``, ``GB``, 1024-based; ``ms``, ``s``, ``min``):
    (the amount in bytes or seconds, which of the two), or None when unset."""
    value = _get(name, None)
    if value is None:
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
        return float(value), "bytes"
    match = _AMOUNT_RE.match(value) if isinstance(value, str) else None
    number, unit = (float(match[1]), match[2] or "B") if match else (0.0, "")
    if unit in units and number > 0:
        return number * units[unit], "seconds" if unit in _SECONDS else "bytes"
    raise ConfigurationError(
        f"{name} is {value!r}: set it to a positive number of bytes or to a string with one "
        f"of the units {', '.join(units)}, such as {example}."
    )


def backfill_max_replica_lag() -> tuple[float, str] | None:
    """How far any replica may fall behind before the backfill pauses: (bytes, "bytes")
    or (seconds, "seconds"), or None (no limit)."""
    return _amount(
        "COMPAT_VIEWS_BACKFILL_MAX_REPLICA_LAG", {**BYTE_UNITS, **_SECONDS}, "'16MB' or '5s'"
    )


def backfill_max_wal_rate() -> float | None:
    """Bytes of WAL per second the backfill's batches may write, or None (no limit)."""
    found = _amount("COMPAT_VIEWS_BACKFILL_MAX_WAL_RATE", BYTE_UNITS, "'8MB'")
    return None if found is None else found[0]


def backfill_pause() -> float:
    return float(_get("COMPAT_VIEWS_BACKFILL_PAUSE", 0.0))


def backfill_skip_triggers() -> bool:
    return bool(_get("COMPAT_VIEWS_BACKFILL_SKIP_TRIGGERS", True))


def autodetector() -> bool:
    return bool(_get("COMPAT_VIEWS_AUTODETECTOR", False))
