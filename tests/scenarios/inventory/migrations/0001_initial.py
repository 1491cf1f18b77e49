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
                ("sku", models.CharField(max_length=50)),
                ("qty", models.IntegerField()),
                ("price_cents", models.IntegerField()),
                ("attrs", models.TextField(null=True)),
                ("note", models.TextField(null=True)),
                ("code", models.CharField(max_length=10)),
            ],
        ),
    ]
