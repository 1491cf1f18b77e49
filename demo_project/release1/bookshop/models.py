"""The bookshop's data as release 1 knows it."""

from django.db import models


class Book(models.Model):
    title = models.CharField(max_length=200)
    price_cents = models.IntegerField()
    isbn = models.CharField(max_length=20, unique=True)

    def __str__(self) -> str:
        return self.title
