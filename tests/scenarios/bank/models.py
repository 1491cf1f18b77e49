"""The bank app in its release-2 shape: an account's name became its title, it gained a
code, its balance went from cents to units; a posting's memo became its note, and it
gained its amount in units."""

from django.db import models


class Account(models.Model):
    title = models.CharField(max_length=100)
    code = models.CharField(max_length=100, null=True)
    balance = models.DecimalField(max_digits=12, decimal_places=2)


class Posting(models.Model):
    account = models.ForeignKey(Account, models.CASCADE)
    note = models.CharField(max_length=200)
    amount_cents = models.IntegerField()
    amount = models.DecimalField(max_digits=12, decimal_places=2, null=True)
