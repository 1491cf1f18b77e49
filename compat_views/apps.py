"""App config: connect the colour hook and register the system checks."""

from django.apps import AppConfig
from django.db.backends.signals import connection_created


class CompatViewsConfig(AppConfig):
    name = "compat_views"
    verbose_name = "compat views"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import checks  # noqa: F401  (registers the checks)
        from .connection import join_colour

        connection_created.connect(join_colour, dispatch_uid="compat_views.join_colour")
