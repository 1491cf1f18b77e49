from django.db import migrations, models

from compat_views.operations import AddCompatColumn, RenameCompatColumn


class Migration(migrations.Migration):
    """Compat operations that only SeparateDatabaseAndState holds, as people wrap them."""

    dependencies = [("wrapped", "0001_initial")]
    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[
                AddCompatColumn("note", "pages", models.IntegerField(default=1)),
                RenameCompatColumn("note", "body", "text"),
            ],
            state_operations=[
                migrations.AddField("note", "pages", models.IntegerField(default=1)),
                migrations.RenameField("note", "body", "text"),
            ],
        ),
    ]
