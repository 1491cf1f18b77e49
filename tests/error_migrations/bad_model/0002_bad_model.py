from django.db import migrations, models

from compat_views.operations import AddCompatColumn


class Migration(migrations.Migration):
    """A model name with a typo."""

    dependencies = [("shop", "0001_initial")]
    operations = [AddCompatColumn("ordr", "note", models.TextField(null=True))]
