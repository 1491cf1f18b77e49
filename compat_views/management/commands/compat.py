"""``manage.py compat status|backfill|complete|rollback``: thin wrappers over lifecycle."""

from __future__ import annotations

import argparse
import copy
import json

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DEFAULT_DB_ALIAS, connections

from ... import lifecycle, status


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
        for name, text in (
            ("complete", "Remove the legacy shape."),
            ("rollback", "Remove the new shape; keep every row."),
        ):
            self.subcommand(name, text).add_argument(
                "--force",
                action="store_true",
                help="Proceed even while sessions of the other colour are connected.",
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
        # Our errors are CommandErrors: Django prints them as one line (or, with
        # --traceback, with their traceback).
        getattr(self, f"do_{action}")(database, **options)

    def do_status(self, database, as_json=False, **options):
        data = status.report(database)
        text = json.dumps(data, indent=2, default=str) if as_json else status.render_text(data)
        self.stdout.write(text)

    def do_backfill(self, database, **options):
        filled = lifecycle.run_deferred(database, stream=self.stdout)
        self.stdout.write(f"Backfill done: {filled} rows filled.")

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
