from django.db import migrations, models


class Migration(migrations.Migration):
    """What makemigrations writes, and each operation breaks the release still serving."""

    dependencies = [("unsafe", "0001_initial")]
    operations = [
        migrations.RenameField("item", "title", "name"),
        migrations.RemoveField("item", "obsolete"),
        migrations.AlterField("item", "pages", models.BigIntegerField(null=True)),
        migrations.AddField("item", "sku", models.CharField(default="", max_length=20)),
        migrations.AddIndex("item", models.Index(fields=["name"], name="unsafe_item_name_ix")),
    ]
