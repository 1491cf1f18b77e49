from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("compat_views", "0001_initial")]
    operations = [
        migrations.AddField(
            model_name="touchedtable",
            name="legacy_table",
            field=models.CharField(blank=True, max_length=63),
        ),
    ]
