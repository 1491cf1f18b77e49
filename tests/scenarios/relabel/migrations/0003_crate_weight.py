from django.db import migrations, models

from compat_views.operations import AddCompatColumn


class Migration(migrations.Migration):
    """... then a compat one on the table release 1 created."""

    dependencies = [("relabel", "0002_crate_label")]
    operations = [AddCompatColumn("crate", "weight", models.IntegerField(null=True))]
