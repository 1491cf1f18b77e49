"""Release 1: ``amount`` holds integer cents."""

from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True
    dependencies = [("compat_views", "0001_initial")]
    operations = [
        migrations.CreateModel(
            name="Order",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("customer", models.TextField()),
                ("amount", models.IntegerField()),
                ("qty", models.IntegerField()),
                ("note", models.TextField()),
            ],
        ),
    ]
