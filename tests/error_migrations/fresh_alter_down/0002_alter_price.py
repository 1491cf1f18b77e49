from django.db import migrations, models

from compat_views.operations import AlterCompatColumn


class Migration(migrations.Migration):
    """A ``down`` whose text does not fit the legacy integer column without a cast."""

    dependencies = [("library", "0001_initial")]
    operations = [
        AlterCompatColumn(
            "book",
            "price_cents",
            models.DecimalField(max_digits=10, decimal_places=2, default=0),
            up="price_cents / 100.0",
            down="price_cents::text",
        ),
    ]
