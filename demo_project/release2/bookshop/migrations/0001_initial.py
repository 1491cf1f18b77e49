"""Create the bookshop's book table (release 1's shape)."""

from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True

    # compat_views keeps its rollout state in its own tables; a later compat migration
    # needs them, so every app that may roll out depends on them from the start.
    dependencies = [("compat_views", "0001_initial")]

    operations = [
        migrations.CreateModel(
            name="Book",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("title", models.CharField(max_length=200)),
                ("price_cents", models.IntegerField()),
                ("isbn", models.CharField(max_length=20, unique=True)),
                (
                    "format",
                    models.CharField(
                        choices=[
                            ("paperback", "Paperback"),
                            ("hardcover", "Hardcover"),
                            ("ebook", "E-book"),
                        ],
                        max_length=20,
                    ),
                ),
            ],
        ),
    ]
