from django.db import migrations, models

from compat_views.operations import AddCompatColumn


class Migration(migrations.Migration):
    """Every kind of step a rollout takes on one table, for the fault tests: two backfilled
    columns, one NOT NULL (a validated CHECK at complete), one unique (an index built
    concurrently after the backfills)."""

    dependencies = [("shop", "0001_initial")]
    operations = [
        AddCompatColumn(
            "order",
            "amount",
            models.DecimalField(max_digits=10, decimal_places=2),
            up="amount_cents / 100.0",
        ),
        AddCompatColumn(
            "order",
            "code",
            models.CharField(max_length=40, null=True, unique=True),
            up="'order-' || amount_cents",
        ),
    ]
