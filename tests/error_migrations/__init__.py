"""Migration packages the error-path tests put in place of a scenario's own
(``MIGRATION_MODULES``): each starts from the scenario's 0001_initial and adds one
migration. The ``bad_*`` and ``indexed`` ones replace the shop's (see
``tests/errors_settings.py``), the ``fresh_*`` ones the library's, with a wrong
expression that a ``migrate`` from zero refuses (``tests/test_fresh_expressions.py``),
and ``interleaved`` the shop's, with a statement between two compat operations on one
table (``tests/test_lock_window.py``)."""
