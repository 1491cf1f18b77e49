"""The bookshop's models: release 2 of the rollout template, or the module named by the
environment variable COMPAT_VIEWS_TEST_MODELS (a makemigrations subprocess of a test).

The models declare ``app_label = "bookshop"``, so importing their module registers them
with this app. Never import another release's module in the test process: two models
named Book in one app clash.
"""

import os
from importlib import import_module

import_module(os.environ.get("COMPAT_VIEWS_TEST_MODELS", "migrations_templates.rollout.release2"))
