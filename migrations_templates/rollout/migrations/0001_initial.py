from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True

    dependencies = []

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
                ("isbn", models.CharField(max_length=20, unique=True)),
                ("title", models.CharField(max_length=200)),
                ("pages", models.IntegerField(default=0)),
                ("price_cents", models.IntegerField()),
            ],
        ),
    ]
