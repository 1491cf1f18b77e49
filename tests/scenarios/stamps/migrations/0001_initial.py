import uuid

import django.utils.timezone
from django.db import migrations, models

import tests.scenarios.stamps.models


class Migration(migrations.Migration):
    initial = True
    dependencies = [("compat_views", "0001_initial")]
    operations = [
        migrations.CreateModel(
            name="Ticket",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("label", models.CharField(max_length=50)),
                ("token", models.UUIDField(default=uuid.uuid4, unique=True)),
                ("created", models.DateTimeField(default=django.utils.timezone.now)),
                (
                    "ref",
                    models.CharField(default=tests.scenarios.stamps.models.next_ref, max_length=20),
                ),
            ],
        ),
    ]
