"""Release 1: the table with the column that 0002 renames."""

from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True
    dependencies = [("compat_views", "0001_initial")]
    operations = [
        migrations.CreateModel(
            name="Item",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("sku", models.IntegerField()),
                ("title", models.TextField()),
                ("price_cents", models.IntegerField(default=0)),
                ("created_at", models.DateTimeField()),
            ],
        ),
    ]
