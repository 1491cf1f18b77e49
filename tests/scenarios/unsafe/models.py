"""A release whose plain migrations would break the one still serving (``compat check``)."""

from django.db import models


class Item(models.Model):
    isbn = models.CharField(max_length=20)
    name = models.CharField(max_length=100)
    pages = models.BigIntegerField(null=True)
    sku = models.CharField(max_length=20, default="")

    class Meta:
        indexes = [models.Index(fields=["name"], name="unsafe_item_name_ix")]
