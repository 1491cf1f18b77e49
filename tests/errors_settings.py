"""Settings for the error-path and resume subprocesses (``tests/test_errors.py``,
``tests/test_resume.py``): ``tests.subprocess_settings``, plus what those tests vary.

| variable | meaning |
|---|---|
| COMPAT_VIEWS_SUBPROCESS_COLOUR | COMPAT_VIEWS_COLOUR ("" for none; default green) |
| COMPAT_VIEWS_SUBPROCESS_DB_COLOUR | the default database's own COMPAT_VIEWS_COLOUR |
| COMPAT_VIEWS_SUBPROCESS_SHOP | the shop app's migrations (a ``tests.error_migrations`` package) |
| COMPAT_VIEWS_SUBPROCESS_OTHER_DB | a second database on the same server, alias ``other`` |
"""

import os

from tests.subprocess_settings import *  # noqa: F403
from tests.subprocess_settings import DATABASES

COMPAT_VIEWS_COLOUR = os.environ.get("COMPAT_VIEWS_SUBPROCESS_COLOUR", "green") or None
if os.environ.get("COMPAT_VIEWS_SUBPROCESS_DB_COLOUR"):
    DATABASES["default"]["COMPAT_VIEWS_COLOUR"] = os.environ["COMPAT_VIEWS_SUBPROCESS_DB_COLOUR"]
if os.environ.get("COMPAT_VIEWS_SUBPROCESS_SHOP"):
    MIGRATION_MODULES = {"shop": os.environ["COMPAT_VIEWS_SUBPROCESS_SHOP"]}
if _other := os.environ.get("COMPAT_VIEWS_SUBPROCESS_OTHER_DB"):
    DATABASES["other"] = {**DATABASES["default"], "NAME": _other}
