"""The bench table in its release-2 shape, so `makemigrations` sees no changes."""

from django.db import models


class Item(models.Model):
    """A plain wide-enough row; ``title`` of release 1 is called ``name`` here."""

    sku = models.IntegerField()
    name = models.TextField()
    price_cents = models.IntegerField(default=0)
    created_at = models.DateTimeField()
