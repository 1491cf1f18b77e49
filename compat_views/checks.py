"""System checks: catch a missing or unknown colour at start-up, not mid-rollout."""

from django.core import checks

from . import conf
from .errors import ConfigurationError


@checks.register()
def check_colour(app_configs=None, **kwargs):
    try:
        colour = conf.colour()
    except ConfigurationError as exc:
        return [checks.Error(str(exc), id="compat_views.E001")]
    if colour is None:
        return [
            checks.Warning(
                "COMPAT_VIEWS_COLOUR is not set: this process joins no colour, and compat "
                "migrations will refuse to run.",
                hint=f"Set COMPAT_VIEWS_COLOUR to one of {conf.colours()} for each deployment.",
                id="compat_views.W001",
            )
        ]
    return []
