from django.db import migrations, models

from compat_views.operations import AddCompatColumn


class Migration(migrations.Migration):
    """An ``up`` over a column the table does not have."""

    dependencies = [("shop", "0001_initial")]
    operations = [
        AddCompatColumn(
            "order", "amount", models.IntegerField(null=True), up="amount_in_cents / 100"
        ),
    ]
