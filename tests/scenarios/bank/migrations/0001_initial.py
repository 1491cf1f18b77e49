from django.db import migrations, models


def key():
    return models.BigAutoField(
        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
    )


class Migration(migrations.Migration):
    initial = True
    dependencies = [("compat_views", "0001_initial")]
    operations = [
        migrations.CreateModel(
            name="Account",
            fields=[
                ("id", key()),
                ("name", models.CharField(max_length=100)),
                ("balance", models.IntegerField(default=0)),
            ],
        ),
        migrations.CreateModel(
            name="Posting",
            fields=[
                ("id", key()),
                ("account", models.ForeignKey(on_delete=models.CASCADE, to="bank.account")),
                ("memo", models.CharField(max_length=200)),
                ("amount_cents", models.IntegerField()),
            ],
        ),
    ]
