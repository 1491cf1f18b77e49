"""Stop using Book.price_cents; the running release still reads and writes it.

Rows the new release writes get `down` (over the remaining columns) so the old
release never sees a missing value; `compat complete` drops the column.
"""

from django.db import migrations

from compat_views.operations import RemoveCompatColumn


class Migration(migrations.Migration):
    dependencies = [
        ("compat_views", "0001_initial"),
        ("bookshop", "0004_alter_compat_column"),
    ]

    operations = [
        RemoveCompatColumn("book", "price_cents", down="round(price * 100)"),
    ]
