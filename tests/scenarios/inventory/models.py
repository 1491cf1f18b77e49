"""A table whose columns change type and meaning during a rollout (tests apply the operations)."""

from django.db import models


class Item(models.Model):
    sku = models.CharField(max_length=50)
    qty = models.IntegerField()
    price_cents = models.IntegerField()
    attrs = models.TextField(null=True)
    note = models.TextField(null=True)
    code = models.CharField(max_length=10)
