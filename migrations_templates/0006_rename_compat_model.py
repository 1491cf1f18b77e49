"""Rename Book to Novel; the running release keeps using the table bookshop_book.

The table is renamed in place (no data moves) and the old release reads and writes
it through a view under the old name. Foreign keys that point at it keep working;
`compat complete` gives them the names a plain RenameModel would.
"""

from django.db import migrations

from compat_views.operations import RenameCompatModel


class Migration(migrations.Migration):
    dependencies = [
        ("compat_views", "0001_initial"),
        ("bookshop", "0005_remove_compat_column"),
    ]

    operations = [
        RenameCompatModel("Book", "Novel"),
    ]
