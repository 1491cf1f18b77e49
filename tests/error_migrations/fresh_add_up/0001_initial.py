"""The library scenario's first migration, as it is."""

from importlib import import_module

Migration = import_module("tests.scenarios.library.migrations.0001_initial").Migration
