"""The bookshop's models in release 2: four edits release 1 would break on.

With COMPAT_VIEWS_AUTODETECTOR on, makemigrations wrote ``migrations/0002_…`` from these
(see the README, "makemigrations writes compat operations").
"""

from django.db import models


class Book(models.Model):
    isbn = models.CharField(max_length=20, unique=True)
    name = models.CharField(max_length=200)  # was title
    pages = models.BigIntegerField(default=0)  # was an integer
    edition = models.SmallIntegerField()  # new, NOT NULL: the books of release 1 are 1
    # price_cents is gone; release 1 still reads it

    class Meta:
        app_label = "bookshop"
