"""Settings every release shares; where the database is and which colour to be come from
the environment, as a deploy tool would set them per slot."""

from __future__ import annotations

import os
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from psycopg.conninfo import conninfo_to_dict


def database_from_url(url: str) -> dict[str, Any]:
    """A ``DATABASES`` entry from a libpq URL or key=value string.

    libpq's own parser, so every parameter it knows (sslmode, options, …) survives as an
    ``OPTIONS`` entry instead of being dropped by a hand-written URL parser.
    """
    params = conninfo_to_dict(url)
    entry: dict[str, Any] = {"ENGINE": "django.db.backends.postgresql"}
    for django_key, libpq_key in (
        ("NAME", "dbname"),
        ("USER", "user"),
        ("PASSWORD", "password"),
        ("HOST", "host"),
        ("PORT", "port"),
    ):
        entry[django_key] = str(params.pop(libpq_key, "") or "")
    if params:
        entry["OPTIONS"] = params
    return entry


try:
    DATABASE_URL = os.environ["DATABASE_URL"]
except KeyError:
    raise ImproperlyConfigured(
        "DATABASE_URL is not set: point it at the demo database, e.g. "
        "postgresql://postgres@127.0.0.1:5432/compat_demo (`python -m demo_project` sets it)."
    ) from None

# Persistent connections: the legacy colour's sessions are open before the expand and stay
# open through it, which is the case compat_views must (and does) handle.
DATABASES = {
    "default": {**database_from_url(DATABASE_URL), "CONN_MAX_AGE": 300, "CONN_HEALTH_CHECKS": True}
}

# The deployment slot of this process; compat_views prepends compat_<colour> to the
# search_path of each connection, which is all the legacy colour needs during a rollout.
COMPAT_VIEWS_COLOUR = os.environ.get("COMPAT_VIEWS_COLOUR") or None

# Small batches so that even the demo's few thousand rows show a batched backfill.
COMPAT_VIEWS_BACKFILL_BATCH_SIZE = 500

SECRET_KEY = "compat-views-demo-only"  # a throwaway demo, never deployed
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "compat_views",
    "demo_project.common",
    "bookshop",
]
MIDDLEWARE = [
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",  # the page's form; the JSON API is exempt
]
ROOT_URLCONF = "urls"
WSGI_APPLICATION = "wsgi.application"
# A failed request's traceback goes to the server's stderr (DEBUG is off, so Django would
# otherwise only mail it to ADMINS).
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"stderr": {"class": "logging.StreamHandler"}},
    "loggers": {"django.request": {"handlers": ["stderr"], "level": "ERROR"}},
}
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
    }
]
