"""Typed errors: each message says what went wrong and what to do next.

Every one is a ``CommandError``: raised under ``manage.py`` (``migrate``, ``makemigrations``,
``compat``, from an operation, a signal receiver, an ``on_commit`` backfill or the
connection hook), Django prints it as one line, ``<class>: <message>``, and exits 1,
instead of a traceback that buries the message; ``--traceback`` still shows where it
came from. Code that calls compat_views outside a command catches them by class as usual.
"""

from django.core.management.base import CommandError


class CompatError(CommandError):
    """Base class of every error compat_views raises on purpose."""


class ConfigurationError(CompatError):
    """The process is not set up for a rollout (colour missing or unknown)."""


class InvalidOperation(CompatError):
    """An operation's arguments do not fit the table it targets; nothing was changed."""


class UnfilledPlaceholder(InvalidOperation):
    """A migration still holds a ``FILL_IN`` placeholder makemigrations wrote; nothing
    was changed."""


class RolloutConflict(CompatError):
    """The request clashes with the pending rollout; nothing was changed."""


class SessionsConnected(CompatError):
    """Sessions of a colour that still needs the shape about to be removed are connected."""


class ForeignObjects(CompatError):
    """A legacy schema about to be dropped holds objects compat_views did not create, or
    other objects depend on its views; nothing was changed."""


class LockTimeoutExhausted(CompatError):
    """A DDL statement kept timing out on its lock; the application never waited on it."""


class LocksHeld(CompatError):
    """A step's lock was busy while its migration's transaction held locks that block
    writers; the migration failed at once instead of making them wait."""


class BackfillFailed(CompatError):
    """An expression failed on existing rows while the backfill ran after the migration
    committed; the rollout stays pending."""


class ConnectionLost(CompatError):
    """The server went away mid-command (a restart, a failover, a cut network); every
    step is whole or not done, so running the command again goes on from there."""


class RehearsalFailed(CompatError):
    """A step of ``compat rehearse`` failed (a command, not a test); nothing is left behind."""


class RolloutBreaksRelease(CompatError):
    """``compat rehearse`` found tests of the serving release that fail only because of the
    rollout."""
