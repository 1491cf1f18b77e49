"""``bank.0002``'s operations, reordered: each table is rebuilt twice, at the end of
each of its runs, and the wrapped operation's run ends outside the wrapper."""

from importlib import import_module

from django.db import migrations

release2 = import_module("tests.scenarios.bank.migrations.0002_release2").Migration.operations
rename_name, add_code, alter_balance, rename_memo, add_amount = release2


class Migration(migrations.Migration):
    dependencies = [("bank", "0001_initial")]
    operations = [
        rename_name,
        rename_memo,
        migrations.SeparateDatabaseAndState(
            database_operations=[add_code], state_operations=[add_code.plain()]
        ),
        alter_balance,
        add_amount,
    ]
