"""What a run was measured on: latencies mean little without the server and the machine."""

from __future__ import annotations

import os
import platform
from importlib import metadata
from pathlib import Path


def cpu_model() -> str:
    """The CPU's model name as the kernel reports it, or what ``platform`` knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() in ("model name", "Model", "Hardware"):
                return value.strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def os_name() -> str:
    try:
        name = platform.freedesktop_os_release().get("PRETTY_NAME", "")
    except OSError:
        name = ""
    return f"{name or platform.system()} (kernel {platform.release()}, {platform.machine()})"


def describe(server: dict[str, str]) -> dict[str, object]:
    """``server``: the PostgreSQL server's ``version`` and ``build`` strings."""
    return {
        "postgres": server["version"],
        "postgres_build": server["build"],
        "cores": os.cpu_count() or 0,
        "cpu": cpu_model(),
        "os": os_name(),
        "python": platform.python_version(),
        "django": metadata.version("django"),
    }
