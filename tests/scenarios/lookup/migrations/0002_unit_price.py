from django.db import migrations, models

from compat_views.operations import AddCompatColumn


class Migration(migrations.Migration):
    dependencies = [("compat_views", "0001_initial"), ("lookup", "0001_initial")]
    operations = [
        AddCompatColumn(
            "item", "unit_cents", models.IntegerField(null=True), up="price_cents / quantity"
        ),
    ]
