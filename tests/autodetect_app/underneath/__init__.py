"""An app shipping its own makemigrations, listed after compat_views (a subprocess test)."""
