"""Release 2: Author becomes Writer (name -> full_name) and tags go, with zero downtime."""

from django.db import migrations

from compat_views.operations import RemoveCompatModel, RenameCompatColumn, RenameCompatModel


class Migration(migrations.Migration):
    dependencies = [("shelf", "0001_initial")]
    operations = [
        RenameCompatModel("Author", "Writer"),
        RenameCompatColumn("writer", "name", "full_name"),
        RemoveCompatModel("Tag"),
    ]
