"""Django settings for the test suite; DATABASES is filled in by conftest.py."""

import django

SECRET_KEY = "compat-views-tests"
USE_TZ = True
INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "compat_views",
    "tests.scenarios.library",
    "tests.scenarios.shop",
    "tests.scenarios.oddnames",
    "tests.scenarios.inventory",
    "tests.scenarios.shelf",
    "tests.scenarios.stamps",
    "tests.scenarios.ledger",
    "tests.scenarios.partitioned",
    "tests.scenarios.atlas",
    "tests.scenarios.wrapped",
    "tests.scenarios.lookup",
    "tests.scenarios.pooled",  # test_pooler.py
    "tests.scenarios.bank",  # test_roles_migrate.py
]
if django.VERSION >= (5, 0):  # GeneratedField
    INSTALLED_APPS.append("tests.scenarios.generated")
INSTALLED_APPS += ["tests.scenarios.unsafe", "tests.scenarios.safe"]
INSTALLED_APPS.append("tests.autodetect_app")  # label bookshop: migrations_templates/rollout
MIGRATION_MODULES = {"bookshop": "migrations_templates.rollout.migrations"}
DATABASES = {}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
COMPAT_VIEWS_COLOUR = "green"
COMPAT_VIEWS_LOCK_TIMEOUT_MS = 200
COMPAT_VIEWS_DDL_MAX_BACKOFF = 0.5
