"""App config: connect the colour hook and the migrate receivers, register the system checks."""

from django.apps import AppConfig
from django.db.backends.signals import connection_created
from django.db.models.signals import post_migrate, pre_migrate


class CompatViewsConfig(AppConfig):
    name = "compat_views"
    verbose_name = "compat views"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import checks, fresh, live, strays  # noqa: F401  (importing checks registers them)
        from .connection import join_colour
        from .operations.base import refuse_non_atomic, refuse_placeholders
        from .resume import resume_deferred

        connection_created.connect(join_colour, dispatch_uid="compat_views.join_colour")
        # sender=self: each runs once per migrate, however many apps it migrates.
        pre_migrate.connect(strays.refuse_migrate, sender=self, dispatch_uid="compat_views.strays")
        pre_migrate.connect(live.refuse_live_plan, sender=self, dispatch_uid="compat_views.live")
        pre_migrate.connect(refuse_non_atomic, sender=self, dispatch_uid="compat_views.atomic")
        pre_migrate.connect(
            refuse_placeholders, sender=self, dispatch_uid="compat_views.placeholders"
        )
        pre_migrate.connect(fresh.snapshot, sender=self, dispatch_uid="compat_views.fresh")
        post_migrate.connect(fresh.forget, sender=self, dispatch_uid="compat_views.fresh")
        post_migrate.connect(live.record_migrated, sender=self, dispatch_uid="compat_views.live")
        post_migrate.connect(resume_deferred, sender=self, dispatch_uid="compat_views.resume")
