"""Migration packages the error-path tests put in place of the shop scenario's own
(``MIGRATION_MODULES``, see ``tests/errors_settings.py``): each starts from the shop's
0001_initial and adds one migration."""
