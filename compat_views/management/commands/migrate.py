"""migrate, with the autodetector makemigrations uses (Django 5.2's check commands.E001).

migrate only asks its autodetector whether the models have changes no migration has
yet; the Command subclasses the migrate that would run without compat_views and changes
nothing else.
"""

from compat_views.autodetector import CompatCommandMixin, underneath


class Command(CompatCommandMixin, underneath("migrate")):
    pass
