"""The bookshop's data as release 2 knows it: the state after migration 0002."""

from django.db import models
from django.utils.text import slugify


class Book(models.Model):
    name = models.CharField(max_length=200)
    price = models.DecimalField(max_digits=10, decimal_places=2)
    isbn = models.CharField(max_length=20, unique=True)
    slug = models.SlugField(max_length=200, blank=True)

    def save(self, *args, **kwargs) -> None:
        """A book saved without a slug gets one from its name, as the migration's ``up``
        gives one to the books release 1 writes."""
        if not self.slug:
            self.slug = slugify(self.name)
        super().save(*args, **kwargs)

    def __str__(self) -> str:
        return self.name
