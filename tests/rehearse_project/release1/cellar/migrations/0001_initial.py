from django.db import migrations, models


def key():
    return models.BigAutoField(
        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
    )


class Migration(migrations.Migration):
    initial = True
    dependencies = []
    operations = [
        migrations.CreateModel(
            name="Shelf", fields=[("id", key()), ("name", models.CharField(max_length=50))]
        ),
        migrations.CreateModel(
            name="Bottle",
            fields=[
                ("id", key()),
                ("label", models.CharField(max_length=100)),
                ("vintage", models.CharField(max_length=10, default="")),
                (
                    "shelf",
                    models.ForeignKey("cellar.Shelf", null=True, on_delete=models.deletion.CASCADE),
                ),
            ],
        ),
    ]
