"""The first AddCompatColumn acts on bank_account; after the swap (tables pinned, so
the database is untouched) the second one, on a model named the same, acts on
bank_posting. Only a rebuild at the first one builds bank_account's view and trigger."""

from django.db import migrations, models

from compat_views.operations import AddCompatColumn


class Migration(migrations.Migration):
    dependencies = [("bank", "0001_initial")]
    operations = [
        AddCompatColumn(
            "account", "code", models.CharField(max_length=100, null=True), up="upper(name)"
        ),
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterModelTable("account", "bank_account"),
                migrations.AlterModelTable("posting", "bank_posting"),
                migrations.RenameModel("Account", "Swap"),
                migrations.RenameModel("Posting", "Account"),
                migrations.RenameModel("Swap", "Posting"),
            ]
        ),
        AddCompatColumn("account", "checked", models.BooleanField(null=True)),
    ]
