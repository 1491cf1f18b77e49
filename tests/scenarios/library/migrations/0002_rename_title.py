from django.db import migrations

from compat_views.operations import RenameCompatColumn


class Migration(migrations.Migration):
    dependencies = [("library", "0001_initial")]
    operations = [RenameCompatColumn("book", "title", "name")]
