"""Release 2: a run of compat operations on each table, so that only the last of each
run rebuilds its table's legacy view and sync trigger."""

from django.db import migrations, models

from compat_views.operations import AddCompatColumn, AlterCompatColumn, RenameCompatColumn


class Migration(migrations.Migration):
    dependencies = [("bank", "0001_initial")]
    operations = [
        RenameCompatColumn("account", "name", "title"),
        AddCompatColumn(
            "account", "code", models.CharField(max_length=100, null=True), up="upper(title)"
        ),
        AlterCompatColumn(
            "account",
            "balance",
            models.DecimalField(max_digits=12, decimal_places=2),
            up="balance / 100.0",
            down="round(balance * 100)",
        ),
        RenameCompatColumn("posting", "memo", "note"),
        AddCompatColumn(
            "posting",
            "amount",
            models.DecimalField(max_digits=12, decimal_places=2, null=True),
            up="amount_cents / 100.0",
        ),
    ]
