from django.db import migrations, models

from compat_views.operations import AlterCompatColumn


class Migration(migrations.Migration):
    """atomic = False, with the compat operation inside SeparateDatabaseAndState."""

    atomic = False
    dependencies = [("wrapped", "0002_wrapped")]
    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[
                AlterCompatColumn(
                    "note", "words", models.BigIntegerField(default=0), up="words", down="words"
                )
            ],
            state_operations=[
                migrations.AlterField("note", "words", models.BigIntegerField(default=0))
            ],
        )
    ]
