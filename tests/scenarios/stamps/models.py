"""A table whose columns have Python callables as defaults (tests apply the operations)."""

import itertools
import uuid

from django.db import models
from django.utils import timezone

_refs = itertools.count(1)


def next_ref() -> str:
    """A callable PostgreSQL has no twin for: only Python can produce its values."""
    return f"R-{next(_refs)}"


class Ticket(models.Model):
    label = models.CharField(max_length=50)
    token = models.UUIDField(default=uuid.uuid4, unique=True)
    created = models.DateTimeField(default=timezone.now)
    ref = models.CharField(max_length=20, default=next_ref)
