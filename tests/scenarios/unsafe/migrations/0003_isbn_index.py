from django.db import migrations


class Migration(migrations.Migration):
    """Hand-written SQL: compat check lists it to review, it does not judge it."""

    dependencies = [("unsafe", "0002_breaking")]
    operations = [
        migrations.RunSQL(
            "CREATE INDEX unsafe_item_isbn_ix ON unsafe_item (isbn)",
            "DROP INDEX unsafe_item_isbn_ix",
        ),
    ]
