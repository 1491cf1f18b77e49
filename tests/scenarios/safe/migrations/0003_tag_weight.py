from django.db import migrations, models


class Migration(migrations.Migration):
    """Breaking on a table the release still serving knows, not on one created earlier in
    the same plan (0002 applied in the same migrate run)."""

    dependencies = [("safe", "0002_additive")]
    operations = [
        migrations.AlterField("tag", "label", models.CharField(max_length=20)),
        migrations.AddField("tag", "weight", models.IntegerField(default=0)),
    ]
