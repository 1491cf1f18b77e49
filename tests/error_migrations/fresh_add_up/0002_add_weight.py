from django.db import migrations, models

from compat_views.operations import AddCompatColumn


class Migration(migrations.Migration):
    """An ``up`` over the new column itself, which the legacy shape does not have."""

    dependencies = [("library", "0001_initial")]
    operations = [
        migrations.AddField("book", "subtitle", models.CharField(max_length=100, null=True)),
        AddCompatColumn("book", "weight", models.IntegerField(null=True), up="weight + stock"),
    ]
