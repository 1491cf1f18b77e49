from django.db import migrations, models

import compat_views.operations


class Migration(migrations.Migration):
    dependencies = [
        ("bookshop", "0001_initial"),
        ("compat_views", "0003_backfill_pace"),
    ]

    operations = [
        compat_views.operations.RenameCompatColumn(
            model_name="book",
            old_name="title",
            new_name="name",
        ),
        compat_views.operations.AddCompatColumn(
            model_name="book",
            name="edition",
            field=models.SmallIntegerField(),
            up="1",
        ),
        compat_views.operations.RemoveCompatColumn(
            model_name="book",
            name="price_cents",
            down="0",
        ),
        compat_views.operations.AlterCompatColumn(
            model_name="book",
            name="pages",
            field=models.BigIntegerField(default=0),
            up="pages",
            down="pages",
        ),
    ]
