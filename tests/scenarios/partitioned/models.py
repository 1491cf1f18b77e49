"""A table partitioned by range of its primary key, made by hand in its first migration."""

from django.db import models


class Reading(models.Model):
    sensor = models.CharField(max_length=50)
    value_milli = models.IntegerField()
