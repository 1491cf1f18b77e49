"""``migrate`` finishes the deferred work (backfills, index builds) an earlier run left.

A backfill runs after its migration commits, so a ``migrate`` that dies in it (a deploy
timeout, an OOM kill, Ctrl-C) leaves the migration applied and the rollout's deferred
work pending. Deploys retry by running ``migrate`` again, and Django then has nothing to
apply; this ``post_migrate`` receiver says what was left (each backfill's rows walked
of rows in all, each index or constraint not built) and finishes it from the saved
checkpoints, as ``manage.py compat backfill`` does.
"""

from __future__ import annotations

import sys

from django.core.management.base import OutputWrapper
from django.db import connections

from . import lifecycle, status


def resume_deferred(sender, using, verbosity=1, stdout=None, **kwargs) -> None:
    """``post_migrate`` receiver (connected for compat_views' own app config)."""
    connection = connections[using]
    if (
        connection.vendor != "postgresql"
        or lifecycle.STATE_TABLE not in connection.introspection.table_names()
    ):
        return
    rollout = lifecycle.pending(using)
    left = status.pending_work(connection, rollout) if rollout else []
    if not left:
        return
    stream = stdout or OutputWrapper(sys.stdout)
    if verbosity:
        stream.write(
            f"compat_views: rollout {rollout.pk} has work an earlier run left pending; "
            "migrate finishes it now (as `manage.py compat backfill` does):\n"
            + "\n".join(f"  {item}" for item in left)
        )
    filled = lifecycle.run_deferred_in_migrate(using, stream=stream)
    if verbosity:
        stream.write(f"compat_views: pending work done ({filled} rows filled).")
