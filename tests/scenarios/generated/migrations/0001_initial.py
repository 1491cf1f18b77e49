from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True
    dependencies = [("compat_views", "0001_initial")]
    operations = [
        migrations.CreateModel(
            name="Line",
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
                ("note", models.TextField(null=True)),
                (
                    "total_cents",
                    models.GeneratedField(
                        expression=models.F("qty") * models.F("price_cents"),
                        output_field=models.BigIntegerField(),
                        db_persist=True,
                    ),
                ),
            ],
        ),
    ]
