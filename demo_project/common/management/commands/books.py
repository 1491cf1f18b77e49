"""``manage.py books list|add``: the JSON API from the command line, for the demo runner.

Same functions as the API views, so the runner exercises what a client would, without
needing a web server yet.
"""

from __future__ import annotations

import json
import sys

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.core.serializers.json import DjangoJSONEncoder

from ... import books


class Command(BaseCommand):
    help = "List books (list) or create books from a JSON array on stdin (add), as JSON."

    def add_arguments(self, parser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        sub.add_parser("list", help="Print who serves, what it reads and every book.")
        sub.add_parser("add", help="Create the books of a JSON array read from stdin.")

    def handle(self, *args, action: str, **options) -> None:
        if action == "list":
            result = books.snapshot()
        else:
            try:
                items = json.load(sys.stdin)
                if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
                    raise ValueError("stdin must hold a JSON array of objects")
                result = books.create(items)
            except (ValueError, ValidationError) as exc:
                raise CommandError(f"books add: {exc}") from exc
        self.stdout.write(json.dumps(result, cls=DjangoJSONEncoder))
