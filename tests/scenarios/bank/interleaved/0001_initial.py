"""The bank scenario's first migration, as it is."""

from importlib import import_module

Migration = import_module("tests.scenarios.bank.migrations.0001_initial").Migration
