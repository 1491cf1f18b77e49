from django.db import migrations, models

from compat_views.operations import AlterCompatColumn


class Migration(migrations.Migration):
    dependencies = [("cellar", "0001_initial")]
    operations = [
        AlterCompatColumn(
            "bottle",
            "vintage",
            models.IntegerField(null=True),
            up="vintage::integer",
            down="coalesce(vintage::text, '')",
        )
    ]
