from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True
    dependencies = [("compat_views", "0001_initial")]
    operations = [
        migrations.CreateModel(
            name="Entry",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("memo", models.CharField(max_length=200)),
                ("amount_cents", models.IntegerField(default=0)),
            ],
        ),
    ]
