"""A crate that release 3 renames to a box with a plain RenameModel, then changes with a
compat operation (release 3 shape). For ``tests/test_live_review``."""

from django.db import models


class Box(models.Model):
    name = models.CharField(max_length=100)
    label = models.CharField(max_length=100, null=True)
    weight = models.IntegerField(null=True)
    size = models.IntegerField(null=True)
