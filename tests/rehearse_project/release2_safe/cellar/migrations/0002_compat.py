from django.db import migrations, models

from compat_views.operations import AddCompatColumn, RenameCompatColumn


class Migration(migrations.Migration):
    dependencies = [("cellar", "0001_initial")]
    operations = [
        AddCompatColumn(
            "bottle", "name_length", models.IntegerField(default=0), up="length(label)"
        ),
        RenameCompatColumn("bottle", "label", "name"),
    ]
