from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("latecomer", "0001_initial")]
    operations = [
        migrations.CreateModel(
            name="Tag",
            fields=[
                ("id", models.BigAutoField(primary_key=True, serialize=False)),
                ("label", models.CharField(max_length=40)),
            ],
        ),
    ]
