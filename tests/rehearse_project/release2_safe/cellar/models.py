"""The cellar as the safe release 2 leaves it."""

from django.db import models


class Shelf(models.Model):
    name = models.CharField(max_length=50)


class Bottle(models.Model):
    name = models.CharField(max_length=100)
    vintage = models.CharField(max_length=10, default="")
    shelf = models.ForeignKey(Shelf, null=True, on_delete=models.CASCADE)
    name_length = models.IntegerField(default=0)


class Tasting(models.Model):
    """New in release 2: a table with a foreign key to one release 1 knows."""

    bottle = models.ForeignKey(Bottle, on_delete=models.CASCADE)
    notes = models.TextField(default="")
