"""Stop using Book; the running release keeps reading and writing its table.

Nothing changes in the database until `compat complete`, which drops the table
(and the many-to-many tables Django made for it) as a plain DeleteModel would;
`compat rollback` has nothing to restore.
"""

from django.db import migrations

from compat_views.operations import RemoveCompatModel


class Migration(migrations.Migration):
    dependencies = [
        ("compat_views", "0001_initial"),
        ("bookshop", "0005_remove_compat_column"),
    ]

    operations = [
        RemoveCompatModel("Book"),
    ]
