"""Settings for a makemigrations subprocess of the autodetector tests.

Everything from ``tests.settings`` with COMPAT_VIEWS_AUTODETECTOR on, plus:

| variable | meaning |
|---|---|
| COMPAT_VIEWS_TEST_MODELS | the bookshop's models module (see ``models.py``) |
| COMPAT_VIEWS_TEST_MIGRATIONS | the bookshop's migrations package |
| COMPAT_VIEWS_TEST_APPS | apps to list right after compat_views, comma-separated |
"""

import os

from tests.settings import *  # noqa: F403
from tests.settings import INSTALLED_APPS as _APPS

_after = _APPS.index("compat_views") + 1
_extra = [name for name in os.environ.get("COMPAT_VIEWS_TEST_APPS", "").split(",") if name]
INSTALLED_APPS = [*_APPS[:_after], *_extra, *_APPS[_after:]]
COMPAT_VIEWS_AUTODETECTOR = True
MIGRATION_MODULES = {
    "bookshop": os.environ.get(
        "COMPAT_VIEWS_TEST_MIGRATIONS", "migrations_templates.rollout.migrations"
    )
}
