from django.db import migrations, models

from compat_views.operations import AddCompatColumn


class Migration(migrations.Migration):
    """A compat operation in a non-atomic migration, after a plain one that would commit first."""

    atomic = False
    dependencies = [("ledger", "0003_add_flag")]
    operations = [
        migrations.AddField("entry", "tax_note", models.TextField(null=True)),
        AddCompatColumn("entry", "tax", models.IntegerField(null=True), up="amount_cents / 10"),
    ]
