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
            name="Jar",
            fields=[
                ("id", key()),
                ("label", models.CharField(max_length=100)),
                ("grams", models.IntegerField(default=0)),
            ],
        ),
        migrations.CreateModel(name="Lid", fields=[("id", key()), ("size", models.IntegerField())]),
        migrations.CreateModel(
            name="Sticker", fields=[("id", key()), ("text", models.CharField(max_length=50))]
        ),
    ]
