"""``manage.py compat status|backfill|live|complete|rollback``: thin wrappers over lifecycle."""

from __future__ import annotations

import json

from django.apps import apps
from django.core.management.base import BaseCommand, CommandError
from django.db import DEFAULT_DB_ALIAS

from ... import lifecycle, live, safety, status
from ...errors import CompatError


class Command(BaseCommand):
    help = "Inspect, finish (complete) or undo (rollback) the pending blue/green rollout."

    def add_arguments(self, parser):
        parser.add_argument("--database", default=DEFAULT_DB_ALIAS)
        sub = parser.add_subparsers(dest="action", required=True)
        show = sub.add_parser("status", help="Show the pending rollout.")
        show.add_argument(
            "--json", dest="as_json", action="store_true", help="Machine-readable output."
        )
        sub.add_parser("backfill", help="Resume pending backfills and index builds.")
        declare = sub.add_parser(
            "live", help="Record which colour serves the newest release (no rollout pending)."
        )
        declare.add_argument("colour", help="The colour that is live now.")
        for name, text in (
            ("complete", "Remove the legacy shape."),
            ("rollback", "Remove the new shape; keep every row."),
        ):
            action = sub.add_parser(name, help=text)
            action.add_argument(
                "--force",
                action="store_true",
                help="Proceed even while sessions of the other colour are connected.",
            )
        check = sub.add_parser(
            "check",
            help="List the unapplied plain operations that would break the release still "
            "serving, with the compat operation to use instead; exit status 1 if any.",
        )
        check.add_argument("app_labels", nargs="*", help="Only these apps' migrations.")
        check.add_argument(
            "--all",
            dest="include_applied",
            action="store_true",
            help="Judge applied migrations too (an audit).",
        )

    def handle(self, *args, action, database, **options):
        try:
            getattr(self, f"do_{action}")(database, **options)
        except CompatError as exc:
            raise CommandError(str(exc)) from exc

    def do_status(self, database, as_json=False, **options):
        data = status.report(database)
        text = json.dumps(data, indent=2, default=str) if as_json else status.render_text(data)
        self.stdout.write(text)

    def do_backfill(self, database, **options):
        filled = lifecycle.run_deferred(database, stream=self.stdout)
        self.stdout.write(f"Backfill done: {filled} rows filled.")

    def do_live(self, database, colour, **options):
        live.declare(database, colour)
        self.stdout.write(status.live_text(live.summary(database)))

    def do_complete(self, database, force=False, **options):
        rollout = lifecycle.complete(database, force=force)
        self.stdout.write(
            f"Rollout {rollout.pk} completed: the {rollout.legacy_colour} shape is gone."
        )

    def do_rollback(self, database, force=False, **options):
        rollout = lifecycle.rollback(database, force=force)
        self.stdout.write(
            f"Rollout {rollout.pk} rolled back: the {rollout.legacy_colour} shape is restored and "
            "its migrations are unrecorded."
        )

    def do_check(self, database, app_labels=(), include_applied=False, **options):
        for label in app_labels:
            try:
                apps.get_app_config(label)
            except LookupError as exc:
                raise CommandError(f"{exc} Name an app of INSTALLED_APPS.") from exc
        findings = safety.check(database, app_labels=app_labels, include_applied=include_applied)
        self.stdout.write(safety.render(findings, include_applied=include_applied))
        breaking = sum(f.breaking for f in findings)
        if breaking:
            raise CommandError(
                f"{breaking} breaking change(s), listed above: use the operations named there "
                "instead, or ship them in a later release."
            )
