from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("cellar", "0001_initial")]
    operations = [migrations.RenameField("bottle", "label", "name")]
