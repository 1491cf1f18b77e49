from django.db import migrations

from compat_views.operations import RemoveCompatColumn, RenameCompatColumn


class Migration(migrations.Migration):
    """A ``down`` over the shape before the rename: the new shape has no ``title``."""

    dependencies = [("library", "0001_initial")]
    operations = [
        RenameCompatColumn("book", "title", "name"),
        RemoveCompatColumn("book", "stock", down="length(title)"),
    ]
