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
            name="Category", fields=[("id", key()), ("name", models.CharField(max_length=50))]
        ),
        migrations.CreateModel(
            name="Item",
            fields=[
                ("id", key()),
                ("name", models.CharField(max_length=50)),
                ("category", models.ForeignKey(on_delete=models.CASCADE, to="lookup.category")),
                ("label", models.CharField(max_length=50, null=True)),
                ("price_cents", models.IntegerField()),
                ("quantity", models.IntegerField()),
            ],
        ),
    ]
