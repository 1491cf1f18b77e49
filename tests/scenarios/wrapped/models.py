"""Notes whose compat migrations wrap their operations in SeparateDatabaseAndState."""

from django.db import models


class Note(models.Model):
    text = models.CharField(max_length=200)
    pages = models.IntegerField(default=1)
    words = models.BigIntegerField(default=0)
