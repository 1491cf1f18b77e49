"""An app a release adds while another colour's rollout is pending (two plain migrations)."""

from django.db import models


class Note(models.Model):
    text = models.CharField(max_length=100)


class Tag(models.Model):
    label = models.CharField(max_length=40)
