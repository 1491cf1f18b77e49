from django.db import migrations

from compat_views.operations import RenameCompatColumn


class Migration(migrations.Migration):
    dependencies = [("annex", "0002_room")]
    operations = [
        RenameCompatColumn("hall", "name", "title"),
        RenameCompatColumn("room", "label", "tag"),
    ]
