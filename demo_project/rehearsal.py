"""``python -m demo_project --rehearse``: release 1's own suite rehearsed against release 2.

The question before the rollout the walkthrough shows: does release 1, serving as blue,
keep working once release 2's migration has expanded the schema, and once it is rolled
back? Release 1 answers it with its own test suite: ``manage.py compat rehearse --new
../release2`` runs from its directory, as a deploy pipeline would run it there, with the
environment a deploy of release 1 as blue gets (``Deployment``). The rehearsal makes and
drops its own database on the demo's server; the summary table is its last output and
its exit status is the demo's.

The rehearsal runs in a process group of its own, so a terminal's Ctrl-C reaches only
the demo, which then interrupts the rehearsal (it drops its database as it unwinds),
waits for it, and drops the demo's database.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from contextlib import ExitStack
from pathlib import Path

from psycopg.conninfo import conninfo_to_dict

from . import catalogue
from .database import drop_database, fresh_database
from .deployment import DEMO_DIR, STOP_TIMEOUT_S, Deployment, print_indented, signal_group

RELEASE2 = DEMO_DIR / catalogue.RELEASES["green"]


def main(new: Path = RELEASE2, reverse: bool = False) -> int:
    """Rehearse release 2 (``new``: its directory) under release 1; the rehearsal's exit
    status. With ``reverse``, release 2's suite runs on the expanded database too."""
    with ExitStack() as stack:
        database_url = stack.enter_context(fresh_database())
        where = conninfo_to_dict(database_url)
        # The rehearsal's own database, should it be killed before it could drop it.
        stack.callback(drop_database, database_url, f"test_{where['dbname']}")
        blue = Deployment(catalogue.RELEASES["blue"], "blue", database_url)
        args = ["compat", "rehearse", "--new", _beside(new, blue.directory)]
        args += ["--reverse"] if reverse else []
        print(
            f"\n==> rehearsal: {blue.label}'s own test suite on a database {new.name}'s "
            "migrations expanded as green, then rolled back",
            flush=True,
        )
        print(
            f"  server {where.get('host')}:{where.get('port')}; the rehearsal's database: "
            f"test_{where['dbname']}, made and dropped by compat rehearse"
        )
        print(f"  $ [{blue.label}] manage.py {' '.join(args)}", flush=True)
        status = _run(blue, args)
        if status == 0:
            print(f"\n==> {blue.label} survives the rollout of {new.name}", flush=True)
        else:
            print(f"\n==> the rehearsal failed (exit {status}): its output above says why")
        return status


def _beside(new: Path, directory: Path) -> str:
    """``new`` as given to ``--new`` in ``directory``: relative within the demo (as a
    user would type ``../release2``), else absolute."""
    new = new.resolve()
    return os.path.relpath(new, directory) if new.is_relative_to(DEMO_DIR) else str(new)


def _run(deployment: Deployment, args: list[str]) -> int:
    """``manage.py *args`` of ``deployment``, its output shown as it comes; on an interrupt
    (or any error here), the rehearsal is interrupted in turn and waited for, and the
    interrupt goes on."""
    process = subprocess.Popen(
        [sys.executable, "manage.py", *args],
        cwd=deployment.directory,
        env={**deployment.environment(f"manage.py {' '.join(args[:2])}"), "PYTHONUNBUFFERED": "1"},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    assert process.stdout is not None
    try:
        for line in process.stdout:
            print_indented(line)
            sys.stdout.flush()
        return process.wait()
    except BaseException:
        _interrupt(process)
        raise


def _interrupt(process: subprocess.Popen[str]) -> None:
    """SIGINT to the rehearsal's group (it and its suite's process unwind, dropping the
    rehearsal's database), its remaining output discarded; SIGKILL if it does not end."""
    signal_group(process, signal.SIGINT)
    try:
        process.communicate(timeout=STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        signal_group(process, signal.SIGKILL)
        process.communicate()
    signal_group(process, signal.SIGKILL)  # a process of its suite left behind
