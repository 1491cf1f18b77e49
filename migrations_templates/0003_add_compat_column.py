"""Add Book.price (NOT NULL) computed from the legacy price_cents.

Rows the running release inserts get `up`; existing rows are backfilled in
batches right after this migration commits; `compat complete` sets NOT NULL.
"""

from django.db import migrations, models

from compat_views.operations import AddCompatColumn


class Migration(migrations.Migration):
    dependencies = [
        ("compat_views", "0001_initial"),
        ("bookshop", "0002_rename_compat_column"),
    ]

    operations = [
        AddCompatColumn(
            "book",
            "price",
            models.DecimalField(max_digits=10, decimal_places=2),
            up="price_cents / 100.0",
        ),
        AddCompatColumn("book", "on_sale", models.BooleanField(default=False)),
    ]
