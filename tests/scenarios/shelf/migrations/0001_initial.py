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
            name="Author", fields=[("id", key()), ("name", models.CharField(max_length=100))]
        ),
        migrations.CreateModel(
            name="Book",
            fields=[
                ("id", key()),
                ("title", models.CharField(max_length=200)),
                ("author", models.ForeignKey(on_delete=models.CASCADE, to="shelf.author")),
            ],
        ),
        migrations.CreateModel(
            name="Tag",
            fields=[
                ("id", key()),
                ("label", models.CharField(max_length=50)),
                ("books", models.ManyToManyField(to="shelf.book")),
            ],
        ),
    ]
