from django.db import migrations, models

from compat_views.operations import AlterCompatColumn, RenameCompatColumn


class Migration(migrations.Migration):
    """Release 2: one column renamed, one changing type and unit (cents to a Decimal)."""

    dependencies = [("pooled", "0001_initial")]
    operations = [
        RenameCompatColumn("account", "holder", "owner"),
        AlterCompatColumn(
            "account",
            "balance",
            models.DecimalField(max_digits=12, decimal_places=2),
            up="balance / 100.0",
            down="round(balance * 100)",
        ),
    ]
