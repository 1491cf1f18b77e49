from django.db import migrations

from compat_views.operations import RenameCompatColumn


class Migration(migrations.Migration):
    dependencies = [("ledger", "0001_initial")]
    operations = [RenameCompatColumn("entry", "memo", "note")]
