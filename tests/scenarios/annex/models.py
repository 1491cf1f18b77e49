"""A hall that exists before the release and a room the release creates, both renamed by
one compat migration (release 2 shape)."""

from django.db import models


class Hall(models.Model):
    title = models.CharField(max_length=100)


class Room(models.Model):
    tag = models.CharField(max_length=100)
