"""Which colour is live: recorded at each change, reported, and checked before a rollout.

Colours alternate. The live colour serves the newest release; the next release runs
as another colour and migrates while the live one serves. A rollout started by the
live colour would put its own running release on the new shape, so it is refused
before anything changes. The record is a log (``LiveColour``), newest row last:
``complete`` makes the new colour live, ``rollback`` the legacy one, a ``migrate``
that applied migrations with no rollout pending makes its colour live (a release of
plain migrations alternates colours too, and the database never sees a complete),
and ``manage.py compat live <colour>`` records it by hand (after a release without
migrations went live). With nothing recorded yet (the adoption release) any colour
may migrate.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator

from django.db import DEFAULT_DB_ALIAS, connections
from django.db.backends.utils import truncate_name

from . import catalog, conf
from .errors import ConfigurationError, InvalidOperation, RolloutConflict
from .models import LiveColour, Rollout

LIVE_TABLE = LiveColour._meta.db_table
DEVELOPMENT_HINT = (
    "On a database no older release serves (a developer's, a test database kept with "
    "--keepdb or --reuse-db), set COMPAT_VIEWS_PLAIN_MIGRATIONS = True instead."
)


def _pending(alias: str) -> Rollout | None:
    return Rollout.objects.using(alias).filter(status=Rollout.PENDING).first()


def _recorded(connection) -> bool:
    """Whether this database has the live-colour log (``compat_views`` 0002 applied)."""
    return LIVE_TABLE in connection.introspection.table_names()


def latest(alias: str) -> LiveColour | None:
    """The live colour's record; None when nothing is recorded (yet)."""
    if not _recorded(connections[alias]):
        return None
    return LiveColour.objects.using(alias).order_by("-pk").first()


def record(
    alias: str, colour: str, reason: str, rollout: Rollout | None = None, release: str = ""
) -> LiveColour | None:
    """Log ``colour`` as live; nothing where the log does not exist (a rollout begun
    before ``compat_views`` 0002 was applied ends without a record)."""
    if not _recorded(connections[alias]):
        return None
    return LiveColour.objects.using(alias).create(
        colour=colour, reason=reason, rollout=rollout, release=release
    )


def release_digest() -> str:
    """What tells one release from another: the migration files it ships.

    The same release migrating again (``migrate app_a``, then ``migrate app_b``) has
    the same files; a newer one has more. Read from disk, so the database's squash
    state does not change it.
    """
    from django.db.migrations.loader import MigrationLoader

    files = sorted(MigrationLoader(None, ignore_no_migrations=True).disk_migrations)
    return hashlib.sha256(json.dumps(files).encode()).hexdigest()


def next_colours(colour: str) -> list[str]:
    return [other for other in conf.colours() if other != colour]


def describe(entry: LiveColour) -> str:
    """Why ``entry.colour`` is live, for messages: what made it so, and when."""
    when = entry.recorded_at.isoformat(timespec="seconds")
    return {
        LiveColour.COMPLETED: f"it completed rollout {entry.rollout_id} at {when}",
        LiveColour.ROLLED_BACK: f"rollout {entry.rollout_id} was rolled back to it at {when}",
        LiveColour.MIGRATED: f"its release applied migrations at {when}",
        LiveColour.DECLARED: f"recorded with `manage.py compat live` at {when}",
    }[entry.reason]


def _refusal(alias: str, colour: str) -> Exception | None:
    """The error for a rollout started by ``colour``: that colour is live, or the
    rollout's legacy colour is not the one that is.

    A colour that became live by a ``migrate`` of this very release may go on migrating
    it: its release is the newest, not the one it would break; the colour live before
    it serves the previous release, so that one is the legacy colour.
    """
    entry = latest(alias)
    if entry is None:
        return None
    serving = entry
    if entry.colour == colour:
        if entry.reason != LiveColour.MIGRATED or entry.release != release_digest():
            run_as = " or ".join(
                f"{other} (COMPAT_VIEWS_COLOUR={other})" for other in next_colours(colour)
            )
            return RolloutConflict(
                f"{colour} is live ({describe(entry)}): the release that is not live yet must "
                f"migrate; run it as {run_as}. If {colour} no longer serves the newest release "
                "(one without migrations went live as another colour since, or the deploy that "
                "made it live was abandoned), record the colour that does: `manage.py compat "
                f"live <colour>`. {DEVELOPMENT_HINT} Nothing was changed."
            )
        serving = LiveColour.objects.using(alias).filter(pk__lt=entry.pk).order_by("-pk").first()
        if serving is None or serving.colour == colour:
            return None
    try:
        legacy = conf.legacy_colour_for(colour)
    except ConfigurationError as exc:
        return ConfigurationError(
            f"{exc} {serving.colour} is live ({describe(serving)}): "
            f"COMPAT_VIEWS_LEGACY_COLOUR={serving.colour}. Nothing was changed."
        )
    if legacy != serving.colour:
        return RolloutConflict(
            f"{serving.colour} is live ({describe(serving)}), but the legacy colour is {legacy} "
            "(COMPAT_VIEWS_LEGACY_COLOUR): the legacy colour is the one serving the previous "
            f"release, whose sessions keep the old shape through compat_{serving.colour}'s "
            f"views. Set COMPAT_VIEWS_LEGACY_COLOUR={serving.colour}, or if {legacy} serves it, "
            f"record that: `manage.py compat live {legacy}`. Nothing was changed."
        )
    return None


def refuse(connection, colour: str) -> None:
    """Refuse to start a rollout from the live colour, or with a legacy colour that is
    not live (``lifecycle.begin``)."""
    error = _refusal(connection.alias, colour)
    if error is not None:
        raise error


def _state_operations(operation) -> Iterator:
    """``operation`` and, inside SeparateDatabaseAndState, the operations that change the
    state (a RenameModel there renames the model as one standing in the migration)."""
    from django.db.migrations import SeparateDatabaseAndState

    yield operation
    if isinstance(operation, SeparateDatabaseAndState):
        for inner in operation.state_operations:
            yield from _state_operations(inner)


def _tables(state, connection) -> dict[tuple[str, str], str]:
    """Each model's table in ``state``, by model key (as Django's Options names it)."""
    found = {}
    for key, model_state in state.models.items():
        options = model_state.options
        if options.get("proxy") or not options.get("managed", True):
            continue
        table = options.get("db_table") or truncate_name(
            f"{key[0]}_{key[1]}", connection.ops.max_name_length()
        )
        found[key] = table
    return found


def _expands(connection, plan) -> bool:
    """Whether a compat operation of the (forwards) plan acts on a table that exists now.

    The others act on tables the plan itself creates and run as their plain twins
    (``fresh``). Each operation's table is read from the project state replayed up to
    it, the way Django's executor builds it, and followed back through the plan's
    earlier renames (RenameModel, AlterModelTable, plain or compat) to the name it has
    now: ``fresh`` knows tables by OID, which a rename keeps. A name the plan drops
    (DeleteModel) names a new table when the plan creates it again.
    """
    from django.db.migrations import RenameModel
    from django.db.migrations.loader import MigrationLoader

    from .operations.base import CompatOperation, database_operations

    if not any(
        isinstance(item, CompatOperation)
        for migration, _ in plan
        for item in database_operations(migration.operations)
    ):
        return False
    if not set(connection.introspection.table_names()) - {"django_migrations"}:
        return False  # an empty database (a test database being created): skip the replay
    loader = MigrationLoader(connection, ignore_no_migrations=True)
    graph, applied = loader.graph, set(loader.applied_migrations)
    heads = [
        key
        for key in applied
        if key in graph.nodes and not any(c.key in applied for c in graph.node_map[key].children)
    ]
    state = loader.project_state(heads, at_end=True)
    # A table name the plan uses -> that table's name when the plan starts (None: a
    # table the plan creates). Names the plan does not touch are absent: themselves.
    origin: dict[str, str | None] = {}
    tables: list[str] = []
    for migration, _ in plan:
        app_label = migration.app_label
        for operation in migration.operations:
            for item in database_operations([operation]):
                if isinstance(item, CompatOperation):
                    item.check_state(app_label, state)
                    model = state.apps.get_model(app_label, item.model_name)
                    table = origin.get(model._meta.db_table, model._meta.db_table)
                    if table is not None and item.allow_migrate_model(connection.alias, model):
                        tables.append(table)
            renames = {
                (app_label, op.old_name_lower): (app_label, op.new_name_lower)
                for op in _state_operations(operation)
                if isinstance(op, RenameModel)
            }
            before = _tables(state, connection)
            operation.state_forwards(app_label, state)
            after = _tables(state, connection)
            moved = {}  # table -> (its name after the operation or None, name at start)
            for key, table in before.items():
                now = after.get(renames.get(key, key))
                if now != table:
                    moved[table] = (now, origin.get(table, table))
            origin.update(dict.fromkeys(moved))  # vacated: a table the plan creates may take it
            origin.update({now: first for now, first in moved.values() if now is not None})
    return bool(catalog.base_tables(connection, tables))


def refuse_live_plan(plan=None, using: str = DEFAULT_DB_ALIAS, **kwargs) -> None:
    """``pre_migrate`` receiver: refuse a plan ``lifecycle.begin`` would refuse midway,
    before any of it runs.

    ``begin`` refuses a rollout from the live colour, from a process without a colour,
    and from another colour than the pending rollout's new one; by then the plan's
    earlier migrations have committed. Checked here, nothing of the plan has run. (The
    pending rollout's legacy colour may not migrate at all: ``strays.refuse_migrate``,
    connected before this receiver, refuses it by where its sessions create tables.)
    """
    connection = connections[using]
    if connection.vendor != "postgresql" or not plan:
        return
    colour = conf.colour(connection.settings_dict)
    existing = connection.introspection.table_names()
    rollout = _pending(using) if Rollout._meta.db_table in existing else None
    if conf.plain_migrations() or any(backwards for _, backwards in plan):
        return
    if colour is None:
        try:
            conf.require_colour(connection.settings_dict)
        except ConfigurationError as exc:
            error = ConfigurationError(f"{exc} {DEVELOPMENT_HINT} Nothing was changed.")
    elif rollout is None:
        error = _refusal(using, colour)
    elif rollout.new_colour == colour:
        return  # the pending rollout is joined
    else:
        error = RolloutConflict(
            f"A rollout from {rollout.legacy_colour} to {rollout.new_colour} is pending and "
            f"this process is {colour}. Finish it first: `manage.py compat complete` (keep the "
            "new shape) or `manage.py compat rollback` (keep the old one). Nothing was changed."
        )
    if error is not None and _expands(connection, plan):
        raise error


def record_migrated(plan=None, using: str = DEFAULT_DB_ALIAS, **kwargs) -> None:
    """``post_migrate`` receiver: a ``migrate`` that applied migrations with no rollout
    pending makes its colour live, if another colour was (or none was recorded).

    Only a run that applied migrations counts: the release that has new ones is the
    newest, while a ``migrate`` at every start of a process, with nothing to apply,
    says nothing about which colour serves. A live colour that migrates again keeps
    its record, so a newer release deployed as that colour stays refused.
    """
    connection = connections[using]
    if connection.vendor != "postgresql" or not plan or any(back for _, back in plan):
        return
    colour = conf.colour(connection.settings_dict)
    if colour is None or not _recorded(connection):
        return
    if _pending(using) is not None:
        return  # complete or rollback decides
    entry = latest(using)
    if entry is None or entry.colour != colour:
        record(using, colour, LiveColour.MIGRATED, release=release_digest())


def declare(alias: str, colour: str) -> LiveColour | None:
    """``compat live <colour>``: record by hand the colour that serves the newest release.

    Naming the colour already recorded changes nothing: its record may be a ``migrate``'s,
    whose release goes on migrating in steps."""
    if colour not in conf.colours():
        raise ConfigurationError(
            f"{colour!r} is not one of COMPAT_VIEWS_COLOURS {conf.colours()}: name one of them."
        )
    connection = connections[alias]
    if not _recorded(connection):
        raise InvalidOperation(
            "This database has no live-colour record table: run `manage.py migrate "
            "compat_views` first. Nothing was recorded."
        )
    rollout = _pending(alias)
    if rollout is not None:
        raise RolloutConflict(
            f"A rollout from {rollout.legacy_colour} to {rollout.new_colour} is pending: "
            f"`manage.py compat complete` makes {rollout.new_colour} live, `manage.py compat "
            f"rollback` {rollout.legacy_colour}. Nothing was recorded."
        )
    entry = latest(alias)
    if entry is not None and entry.colour == colour:
        return entry  # already live: a new row would only forget why (a migrate's release)
    return record(alias, colour, LiveColour.DECLARED)


def summary(alias: str) -> dict | None:
    """``compat status``'s view of the live colour; None when nothing is recorded yet."""
    entry = latest(alias)
    if entry is None:
        return None
    return {
        "colour": entry.colour,
        "reason": entry.reason,
        "rollout": entry.rollout_id,
        "recorded_at": entry.recorded_at.isoformat(),
        "why": describe(entry),
        "next_colours": next_colours(entry.colour),
    }
