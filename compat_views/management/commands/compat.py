"""``manage.py compat status|backfill|live|check|complete|rollback|rehearse``: thin wrappers."""

from __future__ import annotations

import argparse
import copy
import json
from pathlib import Path

from django.apps import apps
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DEFAULT_DB_ALIAS, OperationalError, connections

from ... import lifecycle, live, rehearse, safety, status
from ...connection import lost_connection
from ...errors import RolloutBreaksRelease


def common_options(parser: CommandParser) -> argparse.ArgumentParser:
    """A parent parser with a copy of each option ``parser`` has so far: Django's common
    options (``-v``, ``--settings``, ``--pythonpath``, ``--traceback``, ``--no-color``, …)
    and ``--database``.

    argparse hands everything after a subcommand's name to that subcommand's parser, so
    ``compat status --database other -v 2`` fails unless the subparser knows them too.
    The copies default to SUPPRESS: given after the name they override the value parsed
    before it, and absent they leave it (or the default) alone.
    """
    common = argparse.ArgumentParser(add_help=False)
    for action in parser._actions:  # argparse has no public way to list or copy them
        if action.option_strings and action.dest not in ("help", "version"):
            option = copy.copy(action)
            option.default = argparse.SUPPRESS
            common._add_action(option)
    return common


class Command(BaseCommand):
    help = "Inspect, finish (complete) or undo (rollback) the pending blue/green rollout."

    def add_arguments(self, parser):
        parser.add_argument(
            "--database",
            default=DEFAULT_DB_ALIAS,
            help='The database whose rollout to act on. Defaults to the "default" database.',
        )
        self._common = common_options(parser)
        self._subcommands = parser.add_subparsers(dest="action", required=True)
        show = self.subcommand("status", "Show the pending rollout.")
        show.add_argument(
            "--json", dest="as_json", action="store_true", help="Machine-readable output."
        )
        self.subcommand("backfill", "Resume pending backfills and index builds.")
        self.subcommand(
            "live", "Record which colour serves the newest release (no rollout pending)."
        ).add_argument("colour", help="The colour that is live now.")
        for name, text in (
            ("complete", "Remove the legacy shape."),
            ("rollback", "Remove the new shape; keep every row."),
        ):
            self.subcommand(name, text).add_argument(
                "--force",
                action="store_true",
                help="Proceed even while sessions of the other colour are connected.",
            )
        check = self.subcommand(
            "check",
            "List the unapplied plain operations that would break the release still "
            "serving, with the compat operation to use instead; exit status 1 if any.",
        )
        check.add_argument("app_labels", nargs="*", help="Only these apps' migrations.")
        check.add_argument(
            "--all",
            dest="include_applied",
            action="store_true",
            help="Judge applied migrations too (an audit).",
        )
        self.add_rehearse()

    def add_rehearse(self) -> None:
        parser = self.subcommand(
            "rehearse",
            "Run this release's tests on a throwaway database the next release's migrations "
            "expanded, then rolled back; exit status 1 if the rollout breaks any.",
        )
        new = parser.add_mutually_exclusive_group(required=True)
        new.add_argument(
            "--new", type=Path, metavar="PATH", help="Release 2's manage.py directory."
        )
        new.add_argument(
            "--new-rev", metavar="REV", help="Release 2 as a revision of this git repository."
        )
        parser.add_argument(
            "--reverse",
            action="store_true",
            help="Also run release 2's tests, as the new colour, on the expanded database.",
        )
        parser.add_argument("--runner", choices=("django", "pytest"), help="Default: detected.")
        parser.add_argument("--junit-xml", metavar="FILE", type=Path, help="Write JUnit XML.")
        parser.add_argument(
            "--clobber",
            action="store_true",
            help="Drop the test database first even if the rehearsal did not create it.",
        )

    def subcommand(self, name: str, text: str) -> CommandParser:
        """Add subcommand ``name`` (run by ``do_<name>``), which takes the common options
        after its name as well as before it."""
        return self._subcommands.add_parser(name, help=text, parents=[self._common])

    def handle(self, *args, action, database, **options):
        if database not in connections:
            raise CommandError(
                f"No database {database!r} in DATABASES (there are {sorted(connections)}): "
                "pass one of them to --database."
            )
        try:
            if action == "rehearse":  # it needs the alias's server, not its database
                with connections[database].creation._nodb_cursor():
                    pass
            else:
                connections[database].ensure_connection()
        except OperationalError as exc:  # a server that is down is no bug of ours
            raise CommandError(
                f"Could not connect to database {database!r}: {str(exc).strip()}. Check its "
                "DATABASES entry and that the server is up, then run this again."
            ) from exc
        # Our errors are CommandErrors: Django prints them as one line (or, with
        # --traceback, with their traceback).
        with lost_connection(database, f"`manage.py compat {action}`"):
            getattr(self, f"do_{action}")(database, **options)

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

    def do_rehearse(self, database, new=None, new_rev=None, junit_xml=None, **options):
        report = rehearse.rehearse(
            connections[database],
            new,
            new_rev,
            reverse=options["reverse"],
            runner=options["runner"],
            clobber=options["clobber"],
            stream=self.stdout if options["verbosity"] else None,
        )
        self.stdout.write(rehearse.render_table(report))
        if junit_xml is not None:
            junit_xml.write_text(rehearse.render_junit(report))
        if report.findings:
            raise RolloutBreaksRelease(
                f"{len(report.findings)} test(s) of this release fail only because of the "
                "rollout, listed above: make release 2 use compat operations (`manage.py compat "
                "check` in its checkout names them), or fix the `up`/`down` expressions named."
            )
