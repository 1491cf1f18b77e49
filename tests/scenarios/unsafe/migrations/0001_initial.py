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
                ("isbn", models.CharField(max_length=20)),
                ("title", models.CharField(max_length=100)),
                ("pages", models.IntegerField(null=True)),
                ("obsolete", models.CharField(max_length=50, null=True)),
            ],
        ),
    ]
