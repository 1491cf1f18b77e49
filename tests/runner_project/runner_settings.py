"""Settings of a small project that uses compat operations and sets nothing of compat_views.

``tests/test_test_runners.py`` runs this project's own tests with Django's test runner
and with pytest-django. No COMPAT_VIEWS_* setting, no colour: the test database is
migrated from scratch, so every compat operation runs as its plain twin.

| variable | meaning |
|---|---|
| RUNNER_DSN | libpq connection string of the server (its database is not used) |
| RUNNER_DB | the project's database name; the test database is ``test_<name>`` |
"""

import os

from psycopg.conninfo import conninfo_to_dict

_params = {k: str(v) for k, v in conninfo_to_dict(os.environ["RUNNER_DSN"]).items()}
_params.pop("dbname", None)

SECRET_KEY = "compat-views-runner"
USE_TZ = True
INSTALLED_APPS = ["django.contrib.contenttypes", "compat_views", "pantry"]
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": os.environ["RUNNER_DB"],
        "USER": _params.pop("user", ""),
        "PASSWORD": _params.pop("password", ""),
        "HOST": _params.pop("host", ""),
        "PORT": _params.pop("port", ""),
        "OPTIONS": _params,
    }
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
