"""makemigrations that writes compat operations when COMPAT_VIEWS_AUTODETECTOR is on.

Not a rewrite of makemigrations: the Command subclasses the one that would run without
compat_views (that of the next app after compat_views in INSTALLED_APPS that ships one,
such as django-syzygy's, else Django's) and only puts CompatAutodetectorMixin in front
of the autodetector it uses. An app listed *before* compat_views that ships its own
makemigrations wins over this one: list compat_views first, or give that command
``CompatCommandMixin`` (see the README).
"""

from __future__ import annotations

import os
from importlib import import_module

from django.apps import apps
from django.core.management import find_commands
from django.core.management.base import BaseCommand
from django.core.management.commands import makemigrations

from ...autodetector import APP, CompatCommandMixin

NAME = "makemigrations"


def underneath() -> type[BaseCommand]:
    """The makemigrations Command that would run if compat_views shipped none."""
    configs = list(apps.get_app_configs())
    after = configs[configs.index(apps.get_app_config(APP)) + 1 :]
    for config in after:
        if NAME in find_commands(os.path.join(config.path, "management")):
            return import_module(f"{config.name}.management.commands.{NAME}").Command
    return makemigrations.Command


class Command(CompatCommandMixin, underneath()):
    pass
