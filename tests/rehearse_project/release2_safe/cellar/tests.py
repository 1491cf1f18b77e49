"""Release 2's own suite (``compat rehearse --reverse`` runs it as the new colour)."""

from django.test import TestCase, TransactionTestCase

from cellar.models import Bottle, Tasting


class NewShape(TestCase):
    def test_name_and_length(self):
        Bottle.objects.create(name="Rioja", name_length=5)
        self.assertEqual(list(Bottle.objects.values_list("name", "name_length")), [("Rioja", 5)])


class NewShapeCommitted(TransactionTestCase):
    def test_a_commit(self):
        self.assertEqual(Bottle.objects.count(), 0)
        Tasting.objects.create(bottle=Bottle.objects.create(name="Barolo"))

    def test_b_emptied(self):
        self.assertEqual(Bottle.objects.count(), 0)
