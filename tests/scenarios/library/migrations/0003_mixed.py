from django.db import migrations, models

from compat_views.operations import AddCompatColumn


class Migration(migrations.Migration):
    """A plain operation next to a compat one, as a team would write it."""

    dependencies = [("library", "0002_rename_title")]
    operations = [
        migrations.AddField("book", "subtitle", models.CharField(max_length=100, null=True)),
        AddCompatColumn("book", "pages", models.IntegerField(null=True)),
    ]
