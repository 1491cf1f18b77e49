"""The pantry as its second migration leaves it."""

from django.db import models


class Jar(models.Model):
    name = models.CharField(max_length=100)
    kilos = models.DecimalField(max_digits=8, decimal_places=3)


class Cap(models.Model):
    size = models.IntegerField()
