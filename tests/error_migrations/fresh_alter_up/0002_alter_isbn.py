from django.db import migrations, models

from compat_views.operations import AlterCompatColumn


class Migration(migrations.Migration):
    """An ``up`` whose text does not fit the new bigint column without a cast."""

    dependencies = [("library", "0001_initial")]
    operations = [
        migrations.AddField("book", "subtitle", models.CharField(max_length=100, null=True)),
        AlterCompatColumn(
            "book", "isbn", models.BigIntegerField(unique=True), up="isbn", down="isbn::text"
        ),
    ]
