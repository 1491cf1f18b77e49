"""App config: connect the colour hook and the migrate plan check, register the system checks."""

from django.apps import AppConfig
from django.db.backends.signals import connection_created
from django.db.models.signals import post_migrate, pre_migrate


class CompatViewsConfig(AppConfig):
    name = "compat_views"
    verbose_name = "compat views"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import checks  # noqa: F401  (registers the checks)
        from .connection import join_colour
        from .operations.base import refuse_non_atomic
        from .resume import resume_deferred

        connection_created.connect(join_colour, dispatch_uid="compat_views.join_colour")
        pre_migrate.connect(refuse_non_atomic, sender=self, dispatch_uid="compat_views.atomic")
        post_migrate.connect(resume_deferred, sender=self, dispatch_uid="compat_views.resume")
