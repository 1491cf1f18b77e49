from django.db import migrations, models

from compat_views.operations import AddCompatColumn


class Migration(migrations.Migration):
    """... then a compat operation on the renamed table."""

    dependencies = [("relabel", "0004_rename_crate_box")]
    operations = [AddCompatColumn("box", "size", models.IntegerField(null=True))]
