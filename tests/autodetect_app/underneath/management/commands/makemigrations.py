"""Another app's makemigrations, set up as django-syzygy's is: its handle() sets an
autodetector of its own, derived from Django's, which says on stderr that it ran."""

import sys

from django.core.management.commands import makemigrations
from django.db.migrations.autodetector import MigrationAutodetector


class UnderneathAutodetector(MigrationAutodetector):
    def _detect_changes(self, *args, **kwargs):
        print("the autodetector underneath ran", file=sys.stderr)
        return super()._detect_changes(*args, **kwargs)


class Command(makemigrations.Command):
    def handle(self, *args, **options):
        if hasattr(self, "autodetector"):
            self.autodetector = UnderneathAutodetector
        else:  # Django 4.2
            makemigrations.MigrationAutodetector = UnderneathAutodetector
        return super().handle(*args, **options)
