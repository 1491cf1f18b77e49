from django.db import migrations, models

from compat_views.operations import AddCompatColumn, AlterCompatColumn


class Migration(migrations.Migration):
    """A row written between two compat operations on one table: the first one's sync
    trigger must be in place for it, though the second rebuilds it again."""

    dependencies = [("shop", "0001_initial")]
    operations = [
        AlterCompatColumn(
            "order",
            "amount_cents",
            models.DecimalField(max_digits=10, decimal_places=2),
            up="amount_cents / 100.0",
            down="round(amount_cents * 100)",
        ),
        migrations.RunSQL(
            "INSERT INTO shop_order (customer, amount_cents) VALUES ('between', 2.50)",
            migrations.RunSQL.noop,
        ),
        AddCompatColumn("order", "note", models.TextField(null=True)),
    ]
