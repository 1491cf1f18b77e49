"""The cellar as the release 2 with an integer vintage leaves it."""

from django.db import models


class Shelf(models.Model):
    name = models.CharField(max_length=50)


class Bottle(models.Model):
    label = models.CharField(max_length=100)
    vintage = models.IntegerField(null=True)
    shelf = models.ForeignKey(Shelf, null=True, on_delete=models.CASCADE)
