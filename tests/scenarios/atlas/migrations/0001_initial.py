from django.db import migrations, models


def key():
    return models.BigAutoField(
        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
    )


class Migration(migrations.Migration):
    initial = True
    dependencies = [("compat_views", "0001_initial")]
    operations = [
        migrations.CreateModel(
            name="Region", fields=[("id", key()), ("name", models.CharField(max_length=100))]
        ),
        migrations.CreateModel(
            name="Town",
            fields=[
                ("id", key()),
                ("name", models.CharField(max_length=100)),
                ("region", models.ForeignKey(on_delete=models.CASCADE, to="atlas.region")),
            ],
        ),
    ]
