from django.db import migrations


class Migration(migrations.Migration):
    """Release 3: a plain rename of the table, ..."""

    dependencies = [("relabel", "0003_crate_weight")]
    operations = [migrations.RenameModel("Crate", "Box")]
