"""The bookshop's models in release 1, the release still serving during the rollout.

makemigrations wrote ``migrations/0001_initial.py`` from these.
"""

from django.db import models


class Book(models.Model):
    isbn = models.CharField(max_length=20, unique=True)
    title = models.CharField(max_length=200)
    pages = models.IntegerField(default=0)
    price_cents = models.IntegerField()

    class Meta:
        app_label = "bookshop"
