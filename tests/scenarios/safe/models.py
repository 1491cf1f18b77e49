"""A release whose migrations the one still serving survives (``compat check``)."""

from django.db import models


class Note(models.Model):
    text = models.TextField(help_text="what the note says")
    title = models.CharField(max_length=200, null=True)


class Tag(models.Model):
    label = models.CharField(max_length=20)
    weight = models.IntegerField(default=0)

    class Meta:
        indexes = [models.Index(fields=["label"], name="safe_tag_label_ix")]
