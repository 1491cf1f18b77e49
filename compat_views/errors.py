"""Typed errors: each message says what went wrong and what to do next."""

from django.core.management.base import CommandError


class CompatError(Exception):
    """Base class of every error compat_views raises on purpose."""


class ConfigurationError(CompatError):
    """The process is not set up for a rollout (colour missing or unknown)."""


class InvalidOperation(CompatError):
    """An operation's arguments do not fit the table it targets; nothing was changed."""


class RolloutConflict(CompatError):
    """The request clashes with the pending rollout; nothing was changed."""


class SessionsConnected(CompatError):
    """Sessions of a colour that still needs the shape about to be removed are connected."""


class LockTimeoutExhausted(CompatError):
    """A DDL statement kept timing out on its lock; the application never waited on it."""


class LocksHeld(CompatError, CommandError):
    """A step's lock was busy while its migration's transaction held locks that block
    writers; the migration failed at once instead of making them wait. A
    ``CommandError``, so ``manage.py migrate`` prints it as a line."""


class BackfillFailed(CompatError, CommandError):
    """An expression failed on existing rows while the backfill ran after the migration
    committed; the rollout stays pending. A ``CommandError`` too, because it escapes
    ``manage.py migrate``, which prints one of those as a line instead of a traceback."""
