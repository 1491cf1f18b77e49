from django.db import migrations, models

from compat_views.operations import AddCompatColumn, RenameCompatColumn


class Migration(migrations.Migration):
    dependencies = [("cellar", "0001_initial")]
    operations = [
        AddCompatColumn(
            "bottle", "name_length", models.IntegerField(default=0), up="length(label)"
        ),
        RenameCompatColumn("bottle", "label", "name"),
        migrations.CreateModel(
            name="Tasting",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("notes", models.TextField(default="")),
                (
                    "bottle",
                    models.ForeignKey("cellar.Bottle", on_delete=models.deletion.CASCADE),
                ),
            ],
        ),
    ]
