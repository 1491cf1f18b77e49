"""Rollout state, kept in the database so every process and command agrees on it."""

from __future__ import annotations

from django.db import models

from .mapping import RENAME_TABLE


class Rollout(models.Model):
    """One rollout: from the first compat operation to ``complete`` or ``rollback``."""

    PENDING, COMPLETED, ROLLED_BACK = "pending", "completed", "rolled_back"

    legacy_colour = models.CharField(max_length=41)
    new_colour = models.CharField(max_length=41)
    status = models.CharField(max_length=16, default=PENDING)
    started_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["status"],
                condition=models.Q(status="pending"),
                name="compat_views_one_pending_rollout",
            )
        ]

    def __str__(self) -> str:
        return f"rollout {self.pk}: {self.legacy_colour} -> {self.new_colour} ({self.status})"


class TouchedTable(models.Model):
    """A base table as the legacy colour knew it when the rollout first touched it.

    ``table`` is the base table's name now (a RenameCompatModel changes it);
    ``legacy_columns`` is the snapshot the legacy view is rebuilt from;
    ``key_column`` the legacy name of the column the backfill walks (a rename in the
    rollout moves it; ``backfill.key_column`` resolves it through the plan);
    ``mapping`` is the derived {legacy column -> physical column}, stored for
    ``compat status`` and for tools that read the state without this package.
    """

    rollout = models.ForeignKey(Rollout, on_delete=models.CASCADE, related_name="tables")
    schema = models.CharField(max_length=63)
    table = models.CharField(max_length=63)
    legacy_columns = models.JSONField()
    key_column = models.CharField(max_length=63, blank=True)
    mapping = models.JSONField(default=dict)

    class Meta:
        unique_together = [("rollout", "schema", "table")]

    @property
    def legacy_name(self) -> str:
        """The name the legacy colour knows the table by: its view's name, which also
        keys the names of its triggers. The table's name unless the rollout renamed it."""
        renamed = self.operations.filter(kind=RENAME_TABLE).order_by("seq").first()
        return renamed.spec["old"] if renamed else self.table


class AppliedOperation(models.Model):
    """One compat operation applied in the rollout, with what undoing it needs.

    A backfill saves, with each checkpoint, when the run that saved it started and how
    many keys that run had walked by then (``backfill_saved_at``): ``compat status``
    reads that run's rate for the ETA, its pauses and throttling included.
    """

    rollout = models.ForeignKey(Rollout, on_delete=models.CASCADE, related_name="operations")
    seq = models.PositiveIntegerField()
    app_label = models.CharField(max_length=100)
    migration = models.CharField(max_length=255, blank=True)
    position = models.PositiveIntegerField(default=0)
    kind = models.CharField(max_length=32)
    touched = models.ForeignKey(TouchedTable, on_delete=models.CASCADE, related_name="operations")
    spec = models.JSONField()
    backfill_status = models.CharField(max_length=16, blank=True)  # "", "pending", "done"
    backfill_checkpoint = models.JSONField(null=True)
    backfill_rows = models.BigIntegerField(default=0)
    backfill_started_at = models.DateTimeField(null=True)
    backfill_walked = models.BigIntegerField(default=0)
    backfill_saved_at = models.DateTimeField(null=True)

    class Meta:
        ordering = ["seq"]
        unique_together = [("rollout", "seq")]


class LiveColour(models.Model):
    """Which colour serves the newest release, one row each time that changes.

    Colours alternate: the colour that is live must not start a rollout, which would
    put its own running release on the new shape. ``complete`` makes the new colour
    live, ``rollback`` the legacy one; a ``migrate`` that applied migrations with no
    rollout pending makes its colour live (a release of plain migrations alternates
    colours too), and ``compat live`` records it by hand. ``release`` is set for
    ``migrated`` rows only: a digest of that release's migration files, which lets the
    same release go on migrating (``migrate app_a`` then ``migrate app_b``).
    """

    COMPLETED, ROLLED_BACK, MIGRATED, DECLARED = "completed", "rolled_back", "migrated", "declared"

    colour = models.CharField(max_length=41)
    reason = models.CharField(max_length=16)
    rollout = models.ForeignKey(Rollout, null=True, on_delete=models.PROTECT, related_name="+")
    release = models.CharField(max_length=64, blank=True)
    recorded_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.colour} live since {self.recorded_at} ({self.reason})"
