"""Release 2 of the rollout template, and a new model with a django-pgtrigger trigger."""

import pgtrigger
from django.db import models

from migrations_templates.rollout.release2 import Book


class Review(models.Model):
    book = models.ForeignKey(Book, models.CASCADE)
    text = models.TextField()

    class Meta:
        app_label = "bookshop"
        triggers = [pgtrigger.Protect(name="protect_deletes", operation=pgtrigger.Delete)]
