"""The lookup app in its release-2 shape: items gained a unit price."""

from django.db import models


class Category(models.Model):
    name = models.CharField(max_length=50)


class Item(models.Model):
    name = models.CharField(max_length=50)
    category = models.ForeignKey(Category, models.CASCADE)
    label = models.CharField(max_length=50, null=True)
    price_cents = models.IntegerField()
    quantity = models.IntegerField()
    unit_cents = models.IntegerField(null=True)
