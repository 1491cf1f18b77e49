from django.db import migrations, models


class Migration(migrations.Migration):
    """Release 2: a plain migration first, ..."""

    dependencies = [("relabel", "0001_initial")]
    operations = [
        migrations.AddField("crate", "label", models.CharField(max_length=100, null=True))
    ]
