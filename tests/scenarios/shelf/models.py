"""The shelf app in its release-2 shape: Author became Writer, Tag is gone."""

from django.db import models


class Writer(models.Model):
    full_name = models.CharField(max_length=100)


class Book(models.Model):
    title = models.CharField(max_length=200)
    author = models.ForeignKey(Writer, models.CASCADE)
