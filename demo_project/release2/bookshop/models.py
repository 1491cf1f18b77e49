"""The bookshop's data as release 2 knows it: the state after migration 0002."""

from django.db import models


class Book(models.Model):
    name = models.CharField(max_length=200)
    price_cents = models.IntegerField()
    isbn = models.CharField(max_length=20, unique=True)
    in_stock = models.BooleanField(default=True)
    # Kept next to price_cents while release 1 may still be serving; a later release can
    # drop price_cents once nothing reads it.
    price = models.DecimalField(max_digits=10, decimal_places=2, null=True)

    def __str__(self) -> str:
        return self.name
