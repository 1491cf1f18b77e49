"""Settings for a Django process the tests start as a subprocess (so they can SIGKILL it).

Everything from ``tests.settings``, plus one ``default`` database taken from the
environment, because the test database only exists while its test runs:

| variable | meaning |
|---|---|
| COMPAT_VIEWS_SUBPROCESS_DSN | libpq connection string of the test database (required) |
| COMPAT_VIEWS_SUBPROCESS_APP | application_name of its sessions (compat_views adds the colour) |
| COMPAT_VIEWS_SUBPROCESS_BATCH | COMPAT_VIEWS_BACKFILL_BATCH_SIZE |
| COMPAT_VIEWS_SUBPROCESS_PAUSE | COMPAT_VIEWS_BACKFILL_PAUSE |

The process is the new colour, green, like the ``default`` alias of the test suite.
"""

import os

from psycopg.conninfo import conninfo_to_dict

from tests.settings import *  # noqa: F403

_params = {
    k: str(v) for k, v in conninfo_to_dict(os.environ["COMPAT_VIEWS_SUBPROCESS_DSN"]).items()
}
_app = os.environ.get("COMPAT_VIEWS_SUBPROCESS_APP")

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": _params.pop("dbname"),
        "USER": _params.pop("user", ""),
        "PASSWORD": _params.pop("password", ""),
        "HOST": _params.pop("host", ""),
        "PORT": _params.pop("port", ""),
        "OPTIONS": {**_params, **({"application_name": _app} if _app else {})},
    }
}
COMPAT_VIEWS_COLOUR = "green"
COMPAT_VIEWS_BACKFILL_BATCH_SIZE = int(os.environ.get("COMPAT_VIEWS_SUBPROCESS_BATCH", "5000"))
COMPAT_VIEWS_BACKFILL_PAUSE = float(os.environ.get("COMPAT_VIEWS_SUBPROCESS_PAUSE", "0"))
