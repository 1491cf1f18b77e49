"""Rename Book.title to Book.name; the running release keeps reading and writing `title`."""

from django.db import migrations

from compat_views.operations import RenameCompatColumn


class Migration(migrations.Migration):
    dependencies = [
        ("compat_views", "0001_initial"),
        ("bookshop", "0001_initial"),
    ]

    operations = [
        RenameCompatColumn("book", "title", "name"),
    ]
