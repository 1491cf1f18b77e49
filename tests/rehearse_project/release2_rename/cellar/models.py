"""The cellar as the renaming release 2 leaves it."""

from django.db import models


class Shelf(models.Model):
    name = models.CharField(max_length=50)


class Bottle(models.Model):
    name = models.CharField(max_length=100)
    vintage = models.CharField(max_length=10, default="")
    shelf = models.ForeignKey(Shelf, null=True, on_delete=models.CASCADE)
