"""Release 2: ``amount`` becomes a decimal, kept in sync with the legacy cents both ways."""

from django.db import migrations, models

from compat_views.operations import AlterCompatColumn


class Migration(migrations.Migration):
    dependencies = [("syncapp", "0001_initial")]
    operations = [
        AlterCompatColumn(
            "order",
            "amount",
            models.DecimalField(max_digits=12, decimal_places=2),
            up="amount / 100.0",
            down="round(amount * 100)",
        )
    ]
