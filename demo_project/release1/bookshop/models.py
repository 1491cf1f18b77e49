"""The bookshop's data as release 1 knows it."""

from django.db import models

FORMATS = [("paperback", "Paperback"), ("hardcover", "Hardcover"), ("ebook", "E-book")]


class Book(models.Model):
    title = models.CharField(max_length=200)
    price_cents = models.IntegerField()
    isbn = models.CharField(max_length=20, unique=True)
    format = models.CharField(max_length=20, choices=FORMATS)

    def __str__(self) -> str:
        return self.title
