"""Release 1's Book with a wider ``pages`` and a django-pgtrigger trigger in its Meta."""

import pgtrigger
from django.db import models


class Book(models.Model):
    isbn = models.CharField(max_length=20, unique=True)
    title = models.CharField(max_length=200)
    pages = models.BigIntegerField(default=0)
    price_cents = models.IntegerField()

    class Meta:
        app_label = "bookshop"
        triggers = [pgtrigger.Protect(name="protect_deletes", operation=pgtrigger.Delete)]
