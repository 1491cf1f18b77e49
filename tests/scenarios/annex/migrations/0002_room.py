from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("annex", "0001_initial")]
    operations = [
        migrations.CreateModel(
            name="Room",
            fields=[
                ("id", models.BigAutoField(primary_key=True, serialize=False)),
                ("label", models.CharField(max_length=100)),
            ],
        ),
    ]
