"""An orders table that gains columns during a rollout (release 2 shape)."""

from django.db import models


class Order(models.Model):
    customer = models.CharField(max_length=100)
    amount_cents = models.IntegerField()
    amount = models.DecimalField(max_digits=10, decimal_places=2)
    status = models.CharField(max_length=20, default="new")
    note = models.TextField(null=True)
