"""Settings shared by every release of the rehearsal fixture (each release links to this file).

| variable | meaning |
|---|---|
| REHEARSE_DSN | libpq connection string of the server (its database is not used) |

The project's database is ``cellar``; ``compat rehearse`` works in ``test_cellar``, the
name Django's test runner and pytest-django give its test database.
"""

import os

from compat_views.testing.postgres import server_from_dsn

SECRET_KEY = "compat-views-rehearse"
USE_TZ = True
INSTALLED_APPS = ["django.contrib.contenttypes", "compat_views", "cellar"]
DATABASES = {"default": server_from_dsn(os.environ["REHEARSE_DSN"]).django_settings("cellar")}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
