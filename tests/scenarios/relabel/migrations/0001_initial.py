from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True
    dependencies = [("compat_views", "0001_initial")]
    operations = [
        migrations.CreateModel(
            name="Crate",
            fields=[
                ("id", models.BigAutoField(primary_key=True, serialize=False)),
                ("name", models.CharField(max_length=100)),
            ],
        ),
    ]
