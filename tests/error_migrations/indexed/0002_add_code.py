from django.db import migrations, models

from compat_views.operations import AddCompatColumn


class Migration(migrations.Migration):
    """A backfilled column with a unique index, built after the backfill."""

    dependencies = [("shop", "0001_initial")]
    operations = [
        AddCompatColumn(
            "order",
            "code",
            models.CharField(max_length=40, null=True, unique=True),
            up="'order-' || amount_cents",
        ),
    ]
