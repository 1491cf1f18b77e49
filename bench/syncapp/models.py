"""The bench table in its release-2 shape, so `makemigrations` sees no changes."""

from django.db import models


class Order(models.Model):
    """A narrow order row; ``amount`` was integer cents in release 1 and is a decimal here."""

    customer = models.TextField()
    amount = models.DecimalField(max_digits=12, decimal_places=2)
    qty = models.IntegerField()
    note = models.TextField()
