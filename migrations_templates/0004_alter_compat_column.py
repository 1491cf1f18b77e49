"""Widen Book.name from varchar(200) to varchar(300).

The legacy column stays aside for the running release; `up` fills the new column
(over the names before this operation), `down` keeps the old one in sync for rows
the new release writes (over the names after it).
"""

from django.db import migrations, models

from compat_views.operations import AlterCompatColumn


class Migration(migrations.Migration):
    dependencies = [
        ("compat_views", "0001_initial"),
        ("bookshop", "0003_add_compat_column"),
    ]

    operations = [
        AlterCompatColumn(
            "book",
            "name",
            models.CharField(max_length=300),
            up="name",
            down="left(name, 200)",
        ),
    ]
