"""A bookshop table renamed during a rollout (release 2 shape)."""

from django.db import models


class Book(models.Model):
    isbn = models.CharField(max_length=20, unique=True)
    name = models.CharField(max_length=200)
    price_cents = models.IntegerField(default=0)
    stock = models.IntegerField(default=0)
    subtitle = models.CharField(max_length=100, null=True)
    pages = models.IntegerField(null=True)
