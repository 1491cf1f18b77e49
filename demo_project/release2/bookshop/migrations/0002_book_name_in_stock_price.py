"""Release 2's schema change, as compat operations so release 1 keeps serving meanwhile.

``migrate`` (run by release 2, the new colour) is the expand: the column is renamed and
two columns are added on the real table, and release 1's colour gets a view showing the
table as it was. ``price`` is computed from ``price_cents`` for rows release 1 writes and
backfilled for the rows that already exist.
"""

from django.db import migrations, models

from compat_views.operations import AddCompatColumn, RenameCompatColumn


class Migration(migrations.Migration):
    dependencies = [("bookshop", "0001_initial")]

    operations = [
        RenameCompatColumn("book", "title", "name"),
        AddCompatColumn("book", "in_stock", models.BooleanField(default=True)),
        AddCompatColumn(
            "book",
            "price",
            models.DecimalField(max_digits=10, decimal_places=2, null=True),
            up="price_cents / 100.0",
        ),
    ]
