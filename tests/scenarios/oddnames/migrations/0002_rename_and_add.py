from django.db import migrations, models

from compat_views.operations import AddCompatColumn, RenameCompatColumn


class Migration(migrations.Migration):
    dependencies = [("oddnames", "0001_initial")]
    operations = [
        RenameCompatColumn("oddbook", "MixedCase", "order"),
        AddCompatColumn(
            "oddbook", "twice", models.IntegerField(db_column='we"ird col'), up='"select" * 2'
        ),
    ]
