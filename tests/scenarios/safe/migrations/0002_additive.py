from django.db import migrations, models

from compat_views.operations import RenameCompatColumn


class Migration(migrations.Migration):
    """Changes the release still serving survives: metadata, a longer varchar, a compat
    rename, a new table with its index."""

    dependencies = [("safe", "0001_initial")]
    operations = [
        migrations.AlterField("note", "body", models.TextField(help_text="what the note says")),
        migrations.AlterField("note", "title", models.CharField(max_length=200, null=True)),
        RenameCompatColumn("note", "body", "text"),
        migrations.CreateModel(
            name="Tag",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("label", models.CharField(max_length=50)),
            ],
        ),
        migrations.AddIndex("tag", models.Index(fields=["label"], name="safe_tag_label_ix")),
    ]
