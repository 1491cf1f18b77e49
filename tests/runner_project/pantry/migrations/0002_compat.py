from django.db import migrations, models

from compat_views.operations import (
    AddCompatColumn,
    RemoveCompatColumn,
    RemoveCompatModel,
    RenameCompatColumn,
    RenameCompatModel,
)


class Migration(migrations.Migration):
    dependencies = [("pantry", "0001_initial")]
    operations = [
        RenameCompatColumn("jar", "label", "name"),
        AddCompatColumn(
            "jar", "kilos", models.DecimalField(max_digits=8, decimal_places=3), up="grams / 1000.0"
        ),
        RemoveCompatColumn("jar", "grams", down="(kilos * 1000)::integer"),
        RenameCompatModel("Lid", "Cap"),
        RemoveCompatModel("Sticker"),
    ]
