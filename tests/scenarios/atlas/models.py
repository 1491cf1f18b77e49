"""The atlas app in its release-2 shape: Region became Area, Town.name became title."""

from django.db import models


class Area(models.Model):
    name = models.CharField(max_length=100)


class Town(models.Model):
    title = models.CharField(max_length=100)
    region = models.ForeignKey(Area, models.CASCADE)
