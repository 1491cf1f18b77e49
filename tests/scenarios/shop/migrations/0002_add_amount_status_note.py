from django.db import migrations, models

from compat_views.operations import AddCompatColumn


class Migration(migrations.Migration):
    dependencies = [("shop", "0001_initial")]
    operations = [
        AddCompatColumn(
            "order",
            "amount",
            models.DecimalField(max_digits=10, decimal_places=2),
            up="amount_cents / 100.0",
        ),
        AddCompatColumn("order", "status", models.CharField(max_length=20, default="new")),
        AddCompatColumn("order", "note", models.TextField(null=True)),
    ]
