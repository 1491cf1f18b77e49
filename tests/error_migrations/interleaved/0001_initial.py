"""The shop scenario's first migration, as it is."""

from importlib import import_module

Migration = import_module("tests.scenarios.shop.migrations.0001_initial").Migration
