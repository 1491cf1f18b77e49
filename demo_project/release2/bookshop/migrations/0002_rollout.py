"""Release 2's schema change, as compat operations so release 1 keeps serving meanwhile.

``migrate`` (run by release 2, the new colour) is the expand. On the real table: ``title``
is renamed ``name`` (metadata only); ``price_cents`` moves aside and a decimal ``price``
takes its place; ``format`` moves aside, out of release 2's way; ``slug`` is added. Release
1's colour gets a view showing the table as it was, and one sync trigger keeps both shapes
true for every row either release writes:

* release 1 writes ``price_cents``: ``price`` is computed from it; release 2 writes
  ``price``: ``price_cents`` is computed from it;
* release 2 inserts a book: its ``format`` is ``'paperback'`` (release 1 requires one);
* release 1 writes a ``title``: the ``slug`` is computed from it.

Existing rows get ``price`` and ``slug`` from the backfill. Each ``up`` reads the column
names as they are just before its operation, each ``down`` the names just after it.
"""

from django.db import migrations, models

from compat_views.operations import (
    AddCompatColumn,
    AlterCompatColumn,
    RemoveCompatColumn,
    RenameCompatColumn,
)


class Migration(migrations.Migration):
    dependencies = [("bookshop", "0001_initial")]

    operations = [
        RenameCompatColumn("book", "title", "name"),
        RenameCompatColumn("book", "price_cents", "price"),
        AlterCompatColumn(
            "book",
            "price",
            models.DecimalField(max_digits=10, decimal_places=2),
            up="price / 100.0",
            down="round(price * 100)",
        ),
        RemoveCompatColumn("book", "format", down="'paperback'"),
        AddCompatColumn(
            "book",
            "slug",
            models.SlugField(blank=True, max_length=200),
            up="trim(both '-' from lower(regexp_replace(name, '[^a-zA-Z0-9]+', '-', 'g')))",
        ),
    ]
