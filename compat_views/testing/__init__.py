"""Helpers for testing projects that use compat_views against a real PostgreSQL."""
