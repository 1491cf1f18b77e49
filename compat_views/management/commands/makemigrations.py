"""makemigrations that writes compat operations when COMPAT_VIEWS_AUTODETECTOR is on.

Not a rewrite of makemigrations: the Command subclasses the one that would run without
compat_views and only puts CompatAutodetectorMixin in front of the autodetector it uses
(``compat_views.autodetector``).
"""

from compat_views.autodetector import CompatCommandMixin, underneath


class Command(CompatCommandMixin, underneath("makemigrations")):
    pass
