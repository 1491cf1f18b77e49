from django.db import migrations, models


class Migration(migrations.Migration):
    """A plain migration of the same release, after the compat one."""

    dependencies = [("ledger", "0002_rename_memo")]
    operations = [migrations.AddField("entry", "flag", models.BooleanField(null=True))]
