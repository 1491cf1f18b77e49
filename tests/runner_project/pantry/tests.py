"""The project's own tests, run by Django's test runner and by pytest-django alike."""

from decimal import Decimal

from django.core.management import call_command
from django.db import connection
from django.test import TestCase

from compat_views.models import Rollout
from pantry.models import Cap, Jar


class FreshTestDatabase(TestCase):
    def test_tables_have_the_shape_of_the_last_migration(self):
        Jar.objects.create(name="honey", kilos=Decimal("0.450"))
        Cap.objects.create(size=7)
        self.assertEqual(
            list(Jar.objects.values_list("name", "kilos")), [("honey", Decimal("0.450"))]
        )
        call_command("makemigrations", "pantry", "--check", "--dry-run", verbosity=0)

    def test_no_rollout_was_opened(self):
        self.assertFalse(Rollout.objects.exists())
        with connection.cursor() as cursor:
            cursor.execute("SELECT nspname FROM pg_namespace WHERE nspname LIKE %s", [r"compat\_%"])
            self.assertEqual(cursor.fetchall(), [])
