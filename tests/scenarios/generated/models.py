"""A table with a stored generated column (Django 5.0+), changed by tests' operations."""

from django.db import models


class Line(models.Model):
    sku = models.CharField(max_length=50)
    qty = models.IntegerField()
    price_cents = models.IntegerField()
    note = models.TextField(null=True)
    total_cents = models.GeneratedField(
        expression=models.F("qty") * models.F("price_cents"),
        output_field=models.BigIntegerField(),
        db_persist=True,
    )
