"""The ``bookshop`` app of the rollout template (migrations_templates/rollout)."""

from django.apps import AppConfig


class BookshopConfig(AppConfig):
    name = "tests.autodetect_app"
    label = "bookshop"
    default_auto_field = "django.db.models.BigAutoField"
