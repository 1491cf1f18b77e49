"""Settings shared by every release of the rehearsal fixture (each release links to this file).

| variable | meaning |
|---|---|
| REHEARSE_DSN | libpq connection string of the server (its database is not used) |

The project's database is ``cellar``; ``compat rehearse`` works in ``test_cellar``, the
name Django's test runner and pytest-django give its test database.
"""

import os

from psycopg.conninfo import conninfo_to_dict

_params = {k: str(v) for k, v in conninfo_to_dict(os.environ["REHEARSE_DSN"]).items()}
_params.pop("dbname", None)

SECRET_KEY = "compat-views-rehearse"
USE_TZ = True
INSTALLED_APPS = ["django.contrib.contenttypes", "compat_views", "cellar"]
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": "cellar",
        "USER": _params.pop("user", ""),
        "PASSWORD": _params.pop("password", ""),
        "HOST": _params.pop("host", ""),
        "PORT": _params.pop("port", ""),
        "OPTIONS": _params,
    }
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
