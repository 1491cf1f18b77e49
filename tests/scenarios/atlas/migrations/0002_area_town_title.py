"""Release 2: Region becomes Area and Town.name becomes title, with zero downtime."""

from django.db import migrations

from compat_views.operations import RenameCompatColumn, RenameCompatModel


class Migration(migrations.Migration):
    dependencies = [("atlas", "0001_initial")]
    operations = [
        RenameCompatModel("Region", "Area"),
        RenameCompatColumn("town", "name", "title"),
    ]
