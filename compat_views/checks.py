"""System checks: catch a missing or unknown colour, or a deadlock_timeout a rollout step
cannot beat, before a rollout starts; at deploy, a migration that would break the release
still serving."""

from django.core import checks
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections

from . import conf, safety
from .errors import ConfigurationError


@checks.register()
def check_colour(app_configs=None, **kwargs):
    try:
        colour = conf.colour()
    except ConfigurationError as exc:
        return [checks.Error(str(exc), id="compat_views.E001")]
    if colour is None:
        return [
            checks.Warning(
                "COMPAT_VIEWS_COLOUR is not set: this process joins no colour, and compat "
                "migrations will refuse to run.",
                hint=f"Set COMPAT_VIEWS_COLOUR to one of {conf.colours()} for each deployment.",
                id="compat_views.W001",
            )
        ]
    return []


@checks.register(checks.Tags.database)
def check_deadlock_timeout(app_configs=None, databases=None, **kwargs):
    """A step must give up its locks before Postgres's deadlock check runs: in a cycle
    with an application transaction the check may fail either side, and when it fails
    the application's, that transaction is lost. Runs with ``migrate`` (and ``check
    --database``), where rollouts start."""
    found = []
    for alias in databases or []:
        connection = connections[alias]
        if connection.vendor != "postgresql":
            continue
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT setting::int FROM pg_catalog.pg_settings WHERE name = %s",
                ["deadlock_timeout"],
            )
            (deadlock_ms,) = cursor.fetchone()
        if deadlock_ms <= conf.lock_timeout_ms():
            found.append(
                checks.Warning(
                    f"Database {alias!r} has deadlock_timeout = {deadlock_ms}ms, not above "
                    f"COMPAT_VIEWS_LOCK_TIMEOUT_MS = {conf.lock_timeout_ms()}: a rollout step "
                    "that meets an application transaction in a lock cycle may make Postgres "
                    "fail the application's transaction (deadlock detected) instead of "
                    "giving up its own locks first.",
                    hint="Lower COMPAT_VIEWS_LOCK_TIMEOUT_MS below deadlock_timeout, or raise "
                    "deadlock_timeout (ALTER DATABASE … SET deadlock_timeout = '1s').",
                    id="compat_views.W002",
                )
            )
    return found


@checks.register("compat_views", deploy=True)
def check_breaking_migrations(app_configs=None, databases=None, **kwargs):
    """What ``compat check`` lists, as warnings of ``check --deploy``: the last moment to
    notice a plain operation that would break the release still serving. A deploy check
    only, so ``migrate`` never runs it; it reads ``django_migrations`` of the default
    database, or of each ``--database``."""
    labels = [config.label for config in app_configs or ()]
    found = []
    for alias in databases or [DEFAULT_DB_ALIAS]:
        if connections[alias].vendor != "postgresql":
            continue
        try:
            findings = safety.check(alias, app_labels=labels)
        except DatabaseError as exc:
            found.append(
                checks.Warning(
                    f"compat_views could not read the migrations applied to database "
                    f"{alias!r}, so it could not tell whether they break the release still "
                    f"serving: {exc}".strip(),
                    hint="Run `manage.py compat check` where the database can be reached.",
                    id="compat_views.W011",
                )
            )
            continue
        found += [
            checks.Warning(
                f"{finding.operation} {finding.problem}.",
                hint=f"{finding.instead}.",
                obj=finding.where,
                id="compat_views.W010",
            )
            for finding in findings
            if finding.breaking
        ]
    return found
