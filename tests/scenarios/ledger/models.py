"""A ledger whose compat migration has plain migrations after it (history tests)."""

from django.db import models


class Entry(models.Model):
    note = models.CharField(max_length=200)
    amount_cents = models.IntegerField(default=0)
    flag = models.BooleanField(null=True)
    tax_note = models.TextField(null=True)
    tax = models.IntegerField(null=True)
