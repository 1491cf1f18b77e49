"""Release 1: ``amount`` holds integer cents."""

import django.db.models.deletion
from django.db import migrations, models


def key():
    return models.BigAutoField(auto_created=True, primary_key=True, serialize=False)


class Migration(migrations.Migration):
    initial = True
    dependencies = [("compat_views", "0001_initial")]
    operations = [
        migrations.CreateModel(
            name="Customer", fields=[("id", key()), ("name", models.TextField())]
        ),
        migrations.CreateModel(
            name="Order",
            fields=[
                ("id", key()),
                (
                    "customer",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT, to="syncapp.customer"
                    ),
                ),
                ("status", models.CharField(max_length=20, db_index=True)),
                ("created_at", models.DateTimeField(db_index=True)),
                ("updated_at", models.DateTimeField()),
                ("currency", models.CharField(max_length=3)),
                ("amount", models.IntegerField()),
                ("qty", models.IntegerField()),
                ("note", models.TextField()),
            ],
        ),
    ]
