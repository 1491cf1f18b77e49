"""Release 2: the rename whose cost the bench measures."""

from django.db import migrations

from compat_views.operations import RenameCompatColumn


class Migration(migrations.Migration):
    dependencies = [("benchapp", "0001_initial")]
    operations = [RenameCompatColumn("item", "title", "name")]
