"""Start, extend, complete and roll back a rollout.

Operations and management commands stay thin and call in here. Each step reads
the rollout state, composes the legacy shape of the tables it touches
(``mapping.compose``), renders the statements (``ddl``, ``views``, ``triggers``)
and runs them through ``sql`` (steps under lock_timeout, each retried whole after
taking its locks in one order, ``lock``). State rows are written in the same
transaction as the DDL they describe.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from itertools import groupby

from django.db import DataError, IntegrityError, connections, transaction
from django.db.migrations.recorder import MigrationRecorder
from django.utils import timezone

from . import backfill, catalog, conf, constraints, ddl, live, naming, sql, strays, triggers, views
from .connection import lost_connection
from .errors import BackfillFailed, InvalidOperation, RolloutConflict, SessionsConnected
from .mapping import (
    ADD_COLUMN,
    ALTER_COLUMN,
    REMOVE_TABLE,
    RENAME_TABLE,
    Plan,
    Sync,
    compose,
    referenced,
)
from .models import AppliedOperation, LiveColour, Rollout, TouchedTable

STATE_TABLE = Rollout._meta.db_table
Table = tuple[str, str]  # (schema, table)


def colour_tag(colour: str) -> str:
    """The application_name prefix that marks a Django session of ``colour``."""
    return naming.legacy_schema(colour)


def pending(alias: str, *, lock: bool = False) -> Rollout | None:
    query = Rollout.objects.using(alias).filter(status=Rollout.PENDING)
    return (query.select_for_update() if lock else query).first()


def require_state_tables(connection) -> None:
    if STATE_TABLE not in connection.introspection.table_names():
        raise InvalidOperation(
            "The compat_views state tables do not exist in this database. Run "
            "`manage.py migrate compat_views` first, or add ('compat_views', '0001_initial') "
            "to the dependencies of the migration that uses compat operations."
        )


def require_create_privilege(connection) -> None:
    """Every expand runs CREATE SCHEMA IF NOT EXISTS, which checks the privilege even when
    the schema exists; without it Postgres only says "permission denied for database"."""
    role, database, allowed = catalog.database_create_privilege(connection)
    if not allowed:
        raise InvalidOperation(
            f"Role {role!r} lacks the CREATE privilege on database {database!r}, which a "
            "rollout needs to create its legacy schema (compat_<colour>). Grant it as the "
            f"database owner or a superuser: GRANT CREATE ON DATABASE {sql.ident(database)} "
            f"TO {sql.ident(role)}; then run migrate again. Nothing was changed."
        )


def begin(schema_editor) -> Rollout:
    """Join the pending rollout of this colour, or start one; refuse the other colour's,
    and a new one from the live colour (``live``)."""
    connection = schema_editor.connection
    new_colour = conf.require_colour(connection.settings_dict)
    rollout = pending(connection.alias, lock=True)
    if rollout is not None:
        if rollout.new_colour != new_colour:
            raise RolloutConflict(
                f"A rollout from {rollout.legacy_colour} to {rollout.new_colour} is pending and "
                f"this process is {new_colour}. Finish it first: `manage.py compat complete` "
                "(keep the new shape) or `manage.py compat rollback` (keep the old one)."
            )
        return rollout
    live.refuse(connection, new_colour)
    legacy_colour = conf.legacy_colour_for(new_colour)
    rollout = Rollout.objects.using(connection.alias).create(
        legacy_colour=legacy_colour, new_colour=new_colour
    )
    sql.execute_all(schema_editor, views.render_schema(naming.legacy_schema(legacy_colour), set()))
    return rollout


def touch(schema_editor, rollout: Rollout, target: Target) -> TouchedTable:
    """The table's snapshot in this rollout, taken the first time an operation touches it."""
    touched, _ = TouchedTable.objects.using(schema_editor.connection.alias).get_or_create(
        rollout=rollout,
        schema=target.schema,
        table=target.table,
        defaults={"legacy_columns": target.plan.legacy_columns, "key_column": target.key_column},
    )
    return touched


def plan_of(touched: TouchedTable) -> Plan:
    return compose(touched.legacy_columns, [op.spec for op in touched.operations.order_by("seq")])


def index_in_plan(operation: AppliedOperation) -> int:
    """The operation's position among its table's operations: its index in ``plan_of``."""
    return operation.touched.operations.filter(seq__lt=operation.seq).count()


@dataclass(frozen=True)
class Origin:
    """Where an operation comes from: its app, migration and index in that migration."""

    app_label: str
    migration: str
    position: int


@dataclass(frozen=True)
class Target:
    """A table as an operation is about to see it, read without changing anything.

    ``key_column`` is the legacy name of the column a backfill walks ("" for none);
    ``generated`` names the new shape's stored generated columns, which no sync
    expression may read: PostgreSQL computes them after the BEFORE triggers ran.
    ``columns`` are the table's columns by their names in ``plan.physical``.
    ``stored_table`` and ``stored_columns`` say where the table and its columns are in
    the database now: under the same names, except in ``sqlmigrate``'s collected SQL,
    where earlier operations of the migration renamed or added them on paper only
    (``paper``); ``stored_table`` is None for a table the database does not have.
    """

    schema: str
    table: str
    plan: Plan
    key_column: str
    generated: tuple[str, ...] = ()
    columns: Mapping[str, catalog.Column] = field(default_factory=dict)
    stored_table: str | None = None
    stored_columns: Mapping[str, str] = field(default_factory=dict)

    def stored(self, column: str) -> tuple[str, str, str] | None:
        """(schema, table, column) of ``column`` in the database now, for catalog lookups;
        None when only the collected SQL has it."""
        if self.stored_table is None or column not in self.stored_columns:
            return None
        return self.schema, self.stored_table, self.stored_columns[column]

    @property
    def source(self) -> str:
        """What ``scope`` reads as ``_compat_t``: the table, or no table at all."""
        return sql.ident(self.schema, self.stored_table) if self.stored_table else "(SELECT)"

    def scope(self) -> list[tuple[str, str]]:
        """(name, SQL) pairs of the new shape as it is now, for checking an expression: the
        column read from the table, or a NULL of its type where the database lacks it."""
        return [
            (name, self._read(column))
            for name, column in self.plan.columns(self.plan.current)
            if name not in self.generated
        ]

    def _read(self, column: str) -> str:
        found = self.stored(column)
        return sql.ident("_compat_t", found[2]) if found else f"NULL::{self.columns[column].type}"


def generated_columns(columns: Mapping[str, catalog.Column], plan: Plan) -> tuple[str, ...]:
    """The stored generated columns of ``columns`` that the new shape has."""
    return tuple(name for name, c in columns.items() if c.generated and name in plan.current)


def target(connection, table: str, *, viewed: bool = True) -> Target:
    """The table's legacy shape: the pending rollout's snapshot, else its current columns.

    ``viewed=False`` reads it only to check an operation's expressions, for a plain
    operation: no legacy view will show the table, so its privileges need not be ones
    a view can reproduce.
    """
    schema = catalog.base_schema(connection, table)
    has_state = STATE_TABLE in connection.introspection.table_names()
    rollout = pending(connection.alias) if has_state else None
    touched = rollout and rollout.tables.filter(schema=schema, table=table).first()
    columns = {c.name: c for c in catalog.columns(connection, schema, table)}
    if touched:
        plan, key = plan_of(touched), touched.key_column
    else:
        if viewed:
            require_safe_views(connection, schema, table)
        plan = compose(list(columns), [])
        key = catalog.key_column(connection, schema, table) or ""
    generated = generated_columns(columns, plan)
    return Target(schema, table, plan, key, generated, columns, table, {c: c for c in columns})


def security_invoker(connection, grants: list) -> bool:
    """Whether the table's legacy view reads it with the caller's rights (PostgreSQL 15+).

    Then the table's own privileges and row-level security policies decide, and a
    REVOKE on the table during the rollout holds through the view too. A table with
    column-level grants gets a view that reads with its owner's rights instead,
    checked against the grants copied onto it column by column: a
    ``security_invoker`` view checks the caller's privilege on every column it
    selects, so a role with column-level grants could not read it at all.
    """
    return catalog.server_version(connection) >= 150000 and not any(g.column for g in grants)


@dataclass(frozen=True)
class PrivilegeGaps:
    """How a legacy view's privileges differ from what its table's grants call for."""

    missing: list  # Grant: on the table, not on the view
    excess: list  # Grant: on the view, not (any longer) on the table
    without_usage: list  # role names (None: PUBLIC) that may not use the legacy schema


def _grant_key(grant) -> tuple:
    return grant.grantee, grant.privilege, grant.column


def privilege_gaps(connection, rollout: Rollout, touched: TouchedTable) -> PrivilegeGaps:
    legacy_schema = naming.legacy_schema(rollout.legacy_colour)
    view = touched.legacy_name
    owner = catalog.relation_owner(connection, legacy_schema, view)
    table_grants = catalog.grants(connection, touched.schema, touched.table)
    expected = {
        _grant_key(g): g
        for g in views.view_grants(plan_of(touched), table_grants)
        if g.grantee != owner
    }
    actual = {_grant_key(g): g for g in catalog.acl(connection, legacy_schema, view)}
    users = catalog.schema_users(connection, legacy_schema)
    return PrivilegeGaps(
        missing=[g for key, g in expected.items() if key not in actual],
        excess=[g for key, g in actual.items() if key not in expected],
        without_usage=[]
        if None in users  # PUBLIC may use it
        else sorted(
            {g.grantee for g in table_grants if g.grantee != owner and g.grantee not in users},
            key=lambda role: role or "",
        ),
    )


def require_safe_views(connection, schema: str, table: str) -> None:
    """Refuse a table whose privileges no legacy view can reproduce exactly."""
    if not catalog.row_security(connection, schema, table):
        return
    if catalog.server_version(connection) < 150000:
        raise InvalidOperation(
            f"Table {schema}.{table} has row-level security enabled, and on this server "
            "(PostgreSQL < 15) a legacy view would bypass its policies. Upgrade to "
            "PostgreSQL 15+, or change this table with plain migrations while no old "
            "release serves it; nothing was changed."
        )
    restricted = sorted(
        {g.grantee or "PUBLIC" for g in catalog.grants(connection, schema, table) if g.column}
    )
    if restricted:
        raise InvalidOperation(
            f"Table {schema}.{table} has row-level security and column-level grants (to "
            f"{', '.join(restricted)}). Its legacy view must read it with the caller's rights "
            "for the policies, which needs table-level SELECT on every column it shows, so "
            "those roles could not read it. Grant them table-level privileges for the "
            "rollout, or change this table with plain migrations; nothing was changed."
        )


def require_key(target: Target, what: str) -> None:
    if not target.key_column:
        raise InvalidOperation(
            f"{what}: the backfill walks the table by its primary key or a unique NOT NULL "
            f"column, and {target.table!r} has neither. Add one first; nothing was changed."
        )


def check_expression(
    connection,
    target: Target,
    expression: str,
    scope: list[tuple[str, str]],
    type_sql: str,
    what: str,
) -> None:
    """Create ``expression``'s step function over ``scope``, returning ``type_sql``, and
    roll it back.

    It is the statement the operation runs when applied (``triggers.render_step``),
    in the same session, so it parses, resolves names and checks the assignment cast
    exactly as the trigger and the backfill will evaluate it. A scratch view over the
    real table gives the scope's types; the savepoint is rolled back so nothing stays.
    The step checks that its values fit ``type_sql`` as when applied (only its
    message differs, naming ``what``). An operation that runs plain (a fresh table,
    ``COMPAT_VIEWS_PLAIN_MIGRATIONS``) is checked here too, so the error a test
    database gives is the one a rollout would.
    """
    columns = ", ".join(f"{select} AS {sql.ident(name)}" for name, select in scope)
    try:
        with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
            cursor.execute(
                f"CREATE TEMPORARY VIEW _compat_scope AS SELECT {columns} "
                f"FROM {target.source} AS _compat_t"
            )
            cursor.execute(
                "SELECT attname, pg_catalog.format_type(atttypid, atttypmod) "
                "FROM pg_catalog.pg_attribute "
                "WHERE attrelid = 'pg_temp._compat_scope'::pg_catalog.regclass AND attnum > 0"
            )
            types = dict(cursor.fetchall())
            params = [(name, types[name]) for name in referenced(expression, types)]
            function = sql.ident("pg_temp", "_compat_check")
            fit = triggers.Fit(
                sql.ident("pg_temp", "_compat_check_unfit"),
                sql.ident("pg_temp", "_compat_check_fit"),
                None,  # validating the checked step is enough: the bare one is its expression
                natural_type(cursor, params, expression),
                what,
            )
            for statement in triggers.render_step(function, params, type_sql, expression, fit):
                cursor.execute(statement)
            transaction.set_rollback(True, using=connection.alias)
    except Exception as exc:  # any database error means the expression is unusable
        detail = str(getattr(exc, "__cause__", None) or exc).strip().splitlines()[0]
        if generated := referenced(expression, dict.fromkeys(target.generated)):
            detail += (
                f" ({generated} are generated columns, computed after the sync trigger "
                "runs: use the columns they are computed from)"
            )
        raise InvalidOperation(
            f"{what}: the expression {expression!r} does not work over the columns "
            f"{[name for name, _ in scope]} of {target.table!r}: {detail}. Fix the expression; "
            "nothing was changed."
        ) from exc


def lock_order(tables: Iterable[Table], references: list[tuple[Table, Table]]) -> list[Table]:
    """Referencing tables before the tables they reference, then by name.

    An application statement locks the table it writes before the table its
    foreign-key check reads (the check runs after the row is written; Django's, at
    commit). A step holding the referenced table while it waited for the referencing
    one would wait on writers that wait on it. A table therefore comes after every
    table above it: one that references it, directly or through others, and that it
    does not reference back. Tables in one cycle of foreign keys have the same tables
    above them (no order suits every edge of a cycle) and go by name; every edge
    outside a cycle is kept.
    """
    tables = set(tables)
    referencing = {table: {c for c, p in references if p == table} for table in tables}
    reaching: dict[Table, set[Table]] = {}  # the tables with a chain of references to each
    for table in tables:
        found, stack = set(), list(referencing[table])
        while stack:
            other = stack.pop()
            if other not in found:
                found.add(other)
                stack.extend(referencing.get(other, ()))
        reaching[table] = found

    def above(table: Table) -> int:
        return sum(table not in reaching.get(other, ()) for other in reaching[table])

    return sorted(tables, key=lambda table: (above(table), table))


def _views(connection, rollout: Rollout | None) -> dict[Table, str]:
    """The quoted legacy view of each touched table that has one by now."""
    if rollout is None:
        return {}
    legacy_schema = naming.legacy_schema(rollout.legacy_colour)
    return {
        (touched.schema, touched.table): sql.ident(legacy_schema, touched.legacy_name)
        for touched in rollout.tables.all()
        if catalog.relation_exists(connection, legacy_schema, touched.legacy_name)
    }


def lock(
    schema_editor, rollout: Rollout | None, tables: Iterable[Table], linked: Iterable[Table] = ()
) -> None:
    """Take every lock of a step in one statement, in one global order.

    The order is the one application statements follow: a table's legacy view before
    the table (a legacy INSERT locks the view, then its base table; ``LOCK`` on a view
    also locks its base table), a referencing table before the one it references.
    While one is busy, the step gives up all of them (``sql.lock``). ``linked`` are
    other tables the step's DDL locks too (``_linked``); one this role may not
    ``LOCK`` (it may hold only REFERENCES on another owner's table) is left to that
    DDL, which takes it later in the same all-or-nothing step.
    """
    connection = schema_editor.connection
    members = set(tables)
    members.update(catalog.lockable(connection, sorted(set(linked) - members)))
    references = catalog.foreign_keys(connection, sorted(members))
    references = [pair for pair in references if set(pair) <= members]
    views = _views(connection, rollout)
    relations = []
    for table in lock_order(members, references):
        if table in views:
            relations.append(views[table])
        relations.append(sql.ident(*table))
    sql.lock(schema_editor, relations)


def _linked(
    connection, rollout: Rollout, operations: list[AppliedOperation], *, undoing: bool
) -> set[Table]:
    """The tables besides their own that completing (or undoing) ``operations`` locks.

    Measured on PostgreSQL 15 with pg_locks: dropping a foreign key, alone or with its
    column or table, takes ACCESS EXCLUSIVE on the table at its other end; renaming one
    (which ``complete`` does to the keys of a renamed table's referencing tables) takes
    it on the referencing table only; renaming a table or a column locks no other
    table. Any other table stays unlocked, so a long reader of it (a report, pg_dump)
    does not hold the step up, nor does the step block that table's readers.
    """
    wanted = {operation.pk for operation in operations}
    tables: set[Table] = set()
    for operation, names in finishing(rollout):
        if operation.pk not in wanted:
            continue
        touched, spec = operation.touched, operation.spec
        schema, kind = touched.schema, spec["kind"]
        if undoing:  # only an added column (an AddCompatColumn's, an alter's new one) goes
            dropped = [names["column"]] if kind in (ADD_COLUMN, ALTER_COLUMN) else []
        elif kind == RENAME_TABLE:
            tables.update((schema, table) for table, _, _ in spec.get("foreign_keys", []))
            continue
        elif kind == REMOVE_TABLE:
            for table in [*spec.get("through", []), touched.table]:
                tables.update(catalog.foreign_key_ends(connection, schema, table))
            continue
        else:  # the legacy column put aside goes
            dropped = [names["aside"]] if "aside" in names else []
        if dropped:
            tables.update(catalog.foreign_key_ends(connection, schema, touched.table, dropped))
    return tables


def lock_ahead(schema_editor, tables: list[str]) -> None:
    """Lock every table a migration's compat operations will change, before the first of
    them changes anything.

    Inside Django's migration transaction only this first acquisition can be undone
    and retried (it is a savepoint); the later operations find their locks held.
    ``tables`` are named as the state names them before each operation: a name an
    earlier operation's rename has yet to give is the renamed table's, already
    listed under its present name. The rollout's state row is locked first, as in
    ``complete`` and ``rollback``.
    """
    connection = schema_editor.connection
    rollout = pending(connection.alias, lock=True)
    lock(schema_editor, rollout, catalog.base_tables(connection, tables))


def _changed_tables(operations: Iterable[AppliedOperation]) -> set[Table]:
    """The tables completing or undoing ``operations`` changes: theirs, and the
    many-to-many tables a removed model's table takes with it."""
    tables = set()
    for operation in operations:
        touched = operation.touched
        tables.add((touched.schema, touched.table))
        tables.update((touched.schema, name) for name in operation.spec.get("through", []))
    return tables


def expand(
    schema_editor,
    target: Target,
    origin: Origin,
    spec: dict,
    backfill_needed: bool,
    *,
    rebuild_now: bool = True,
) -> AppliedOperation:
    """Start or join the rollout and apply one operation to ``target``, as one step.

    One step, not one a statement: a step asks pg_locks and sets lock_timeout before
    its statements, and ``lock_ahead`` has locked the table already, so each of those
    round trips would only lengthen the time the legacy colour waits for it. The step
    behaves as its statements did one by one: with the table locked, a busy lock fails
    it at once (``sql.step``).
    """

    def body() -> AppliedOperation:
        rollout = begin(schema_editor)
        touched = touch(schema_editor, rollout, target)
        return apply(schema_editor, rollout, touched, origin, spec, backfill_needed, rebuild_now)

    return sql.step(schema_editor, body, f"applying {spec['kind']} to {target.table}")


def apply(
    schema_editor,
    rollout: Rollout,
    touched: TouchedTable,
    origin: Origin,
    spec: dict,
    backfill_needed: bool = False,
    rebuild_now: bool = True,
) -> AppliedOperation:
    """Run an operation's expand DDL, record it, and rebuild the table's view and trigger
    (unless the next operation will: ``rebuild_now``).

    The table is locked already (``lock_ahead``).
    """
    sql.execute_all(schema_editor, ddl.expand(touched.schema, touched.table, spec))
    _follow_rename(touched, spec["new"] if spec["kind"] == RENAME_TABLE else None)
    if backfill_needed:
        spec = {**spec, "partitions": leaf_partitions(schema_editor.connection, touched)}
    seq = (rollout.operations.order_by("-seq").values_list("seq", flat=True).first() or 0) + 1
    operation = AppliedOperation.objects.using(schema_editor.connection.alias).create(
        rollout=rollout,
        seq=seq,
        app_label=origin.app_label,
        migration=origin.migration,
        position=origin.position,
        kind=spec["kind"],
        touched=touched,
        spec=spec,
        backfill_status="pending" if backfill_needed else "",
    )
    _create_steps(schema_editor, touched, operation)
    if rebuild_now:
        rebuild(schema_editor, rollout, touched)
    if backfill_needed or spec.get("objects"):
        alias = schema_editor.connection.alias
        transaction.on_commit(lambda: run_deferred_in_migrate(alias), using=alias)
    return operation


def natural_type(cursor, params: list[tuple[str, str]], expression: str) -> str:
    """The type ``expression`` has over columns of ``params``' types, before any cast to
    its target column: what decides whether its values can fail to fit there.

    A scratch view over one row of typed NULLs tells it, with the type modifier (a
    ``varchar(20)`` column read as is stays ``varchar(20)``); the expression is not run.
    """
    columns = ", ".join(f"NULL::{type_sql} AS {sql.ident(name)}" for name, type_sql in params)
    view = sql.ident("pg_temp", "_compat_natural")
    cursor.execute(
        f"CREATE VIEW {view} AS SELECT ({expression}) AS v FROM (SELECT {columns}) AS _compat_p"
    )
    cursor.execute(
        "SELECT pg_catalog.format_type(atttypid, atttypmod) FROM pg_catalog.pg_attribute "
        "WHERE attrelid = %s::pg_catalog.regclass AND attnum = 1",
        [view],
    )
    (found,) = cursor.fetchone()
    cursor.execute(f"DROP VIEW {view}")
    return found


def unfit_message(
    touched: TouchedTable, plan: Plan, operation: AppliedOperation, sync: Sync, type_sql: str
) -> str:
    """What a writer reads when its row gives ``sync``'s column (of ``type_sql``) a value
    it cannot hold: the column, the operation, and what to do (``triggers.VALUE``: the
    value)."""
    column = plan.physical[sync.target]
    origin = ".".join(filter(None, (operation.app_label, operation.migration)))
    where = f"the {operation.kind} in {origin}"
    if any(sync is up for up in plan.ups):
        label, writer, direction = f"column {touched.table}.{column}", "legacy", "up"
    else:
        names = [name for name, identity in plan.legacy.items() if identity == sync.target]
        name = names[0] if names else column
        label, writer, direction = f"legacy column {touched.legacy_name}.{name}", "new", "down"
    return (
        f"compat_views: `{direction}` of {where} gives {triggers.VALUE} for {label} "
        f"({type_sql}), which cannot hold it. Until `compat complete` or `compat rollback`, "
        f"the {writer} colour must not write values that column cannot hold; or run "
        f"`manage.py compat rollback`, fix `{direction}` and migrate again."
    )


def _create_steps(schema_editor, touched: TouchedTable, operation: AppliedOperation) -> None:
    """The step functions of the table's newest operation, typed from its columns now.

    ``legacy_name`` asks the state tables each time it is read: read once here.
    """
    plan = plan_of(touched)
    index = len(plan.touched) - 1
    connection = schema_editor.connection
    types = {c.name: c.type for c in catalog.columns(connection, touched.schema, touched.table)}
    legacy_name = touched.legacy_name
    with connection.cursor() as cursor:
        fits = {
            sync.target: triggers.Fit(
                triggers.unfit_function(touched.schema, legacy_name, sync),
                triggers.fit_domain(touched.schema, legacy_name, sync),
                triggers.bare_function(touched.schema, legacy_name, sync)
                if sync in plan.ups  # only the backfill, which runs up, uses it
                else None,
                natural_type(cursor, triggers.step_params(plan, sync, types), sync.expression),
                unfit_message(touched, plan, operation, sync, types[plan.physical[sync.target]]),
            )
            for sync in triggers.syncs_of(plan, index)
        }
    statements = triggers.render_steps(touched.schema, legacy_name, plan, index, types, fits)
    sql.execute_all(schema_editor, statements)


def _wrapper_schema(connection, touched: TouchedTable) -> str:
    """Where pgtrigger's wrapper functions went: the first schema of the installing
    session's search_path (they are created unqualified), which we look up by name."""
    names = triggers.all_trigger_names(touched.schema, touched.legacy_name)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT n.nspname FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n "
            "ON n.oid = p.pronamespace WHERE p.proname = ANY(%s) LIMIT 1",
            [names],
        )
        row = cursor.fetchone()
    return row[0] if row else touched.schema


def rebuild(schema_editor, rollout: Rollout, touched: TouchedTable) -> None:
    """Regenerate one table's legacy view and sync trigger from its composed mapping."""
    connection = schema_editor.connection
    plan = plan_of(touched)
    grants = catalog.grants(connection, touched.schema, touched.table)
    legacy_schema = naming.legacy_schema(rollout.legacy_colour)
    statements = views.render_schema(legacy_schema, {g.grantee for g in grants})
    statements += views.render(
        legacy_schema,
        touched.legacy_name,
        touched.schema,
        touched.table,
        plan,
        grants,
        security_invoker=security_invoker(connection, grants),
    )
    wrappers = _wrapper_schema(connection, touched)
    statements += triggers.render_install(
        touched.schema, touched.table, legacy_schema, plan, wrappers, touched.legacy_name
    )
    sql.execute_all(schema_editor, statements)
    # Default privileges (ALTER DEFAULT PRIVILEGES) may have granted more on the new view.
    qualified_view = sql.ident(legacy_schema, touched.legacy_name)
    excess = privilege_gaps(connection, rollout, touched).excess
    sql.execute_all(schema_editor, [views.render_revoke(qualified_view, g) for g in excess])
    touched.mapping = plan.mapping
    touched.save(update_fields=["mapping"])


def _drop_table_objects(
    schema_editor, rollout: Rollout, touched: TouchedTable, operations: list[int] | None = None
) -> None:
    """Drop the table's view, triggers and the step functions of ``operations`` (their
    indexes in the plan; all of them by default)."""
    legacy_schema = naming.legacy_schema(rollout.legacy_colour)
    plan = plan_of(touched)
    indexes = range(len(plan.touched)) if operations is None else operations
    sql.execute_all(
        schema_editor,
        [
            *triggers.render_uninstall(
                touched.schema,
                touched.table,
                _wrapper_schema(schema_editor.connection, touched),
                touched.legacy_name,
            ),
            f"DROP VIEW IF EXISTS {sql.ident(legacy_schema, touched.legacy_name)}",
            *triggers.render_drop_steps(touched.schema, touched.legacy_name, plan, indexes),
        ],
    )


def _close(schema_editor, rollout: Rollout, status: str) -> None:
    """End the rollout; the colour whose shape stays is live now.

    The legacy schema holds nothing of ours by now (its views went with their tables'
    objects), so it is dropped without CASCADE: what somebody else put there is named
    (``strays``), and anything that check missed makes PostgreSQL refuse the drop.
    """
    connection = schema_editor.connection
    for schema in catalog.unused_ignore_functions(connection):
        ignore = sql.ident(schema, catalog.PGTRIGGER_IGNORE)
        sql.execute(schema_editor, f"DROP FUNCTION IF EXISTS {ignore}(name)")
    strays.refuse(connection, rollout)
    legacy_schema = sql.ident(naming.legacy_schema(rollout.legacy_colour))
    sql.execute(schema_editor, f"DROP SCHEMA IF EXISTS {legacy_schema}")
    rollout.status, rollout.finished_at = status, timezone.now()
    rollout.save(update_fields=["status", "finished_at"])
    if status == Rollout.COMPLETED:
        colour, reason = rollout.new_colour, LiveColour.COMPLETED
    else:
        colour, reason = rollout.legacy_colour, LiveColour.ROLLED_BACK
    live.record(schema_editor.connection.alias, colour, reason, rollout)


def undo(schema_editor, rollout: Rollout, operation: AppliedOperation) -> None:
    """Reverse one operation (the last one of the rollout) and rebuild what remains."""
    last = rollout.operations.order_by("-seq").first()
    if last is None or last.pk != operation.pk:
        raise RolloutConflict(
            f"{operation.app_label}.{operation.migration} is not the last compat operation of "
            f"the pending rollout (the last is {last.app_label}.{last.migration}). Reverse the "
            "later migrations first, or run `manage.py compat rollback` to undo them all."
        )
    touched = operation.touched
    # The migration's first undo takes the locks of all of its operations.
    siblings = list(
        rollout.operations.filter(
            app_label=operation.app_label, migration=operation.migration
        ).select_related("touched")
    )
    linked = _linked(schema_editor.connection, rollout, siblings, undoing=True)
    lock(schema_editor, rollout, _changed_tables(siblings), linked)
    _drop_table_objects(schema_editor, rollout, touched, [index_in_plan(operation)])
    _undo_ddl(schema_editor, touched, operation.spec)
    operation.delete()
    if touched.operations.exists():
        rebuild(schema_editor, rollout, touched)
    else:
        touched.delete()
    if not rollout.operations.exists():
        _close(schema_editor, rollout, Rollout.ROLLED_BACK)


def _follow_rename(touched: TouchedTable, new_name: str | None) -> None:
    """Keep ``touched.table`` the base table's name now, after a table rename or its undo."""
    if new_name is not None and new_name != touched.table:
        touched.table = new_name
        touched.save(update_fields=["table"])


def _undo_ddl(schema_editor, touched: TouchedTable, spec: dict) -> None:
    sql.execute_all(schema_editor, ddl.undo(touched.schema, touched.table, spec))
    _follow_rename(touched, spec["old"] if spec["kind"] == RENAME_TABLE else None)


def find(alias: str, origin: Origin) -> tuple[Rollout, AppliedOperation] | tuple[None, None]:
    rollout = pending(alias, lock=True)
    if rollout is None:
        return None, None
    operation = rollout.operations.filter(
        app_label=origin.app_label, migration=origin.migration, position=origin.position
    ).first()
    return (rollout, operation) if operation else (None, None)


# Commands: whole-rollout steps, each in one transaction --------------------------------


def check_sessions(alias: str, colour: str, action: str) -> None:
    found = catalog.sessions(connections[alias], colour_tag(colour))
    if found:
        listed = "\n".join(
            f"  pid {pid} {app!r} from {addr or 'local socket'} since {start} ({state})"
            for pid, app, addr, start, state in found
        )
        raise SessionsConnected(
            f"{len(found)} {colour} session(s) are still connected and would break on {action}:\n"
            f"{listed}\nStop the {colour} release first (or pass --force to {action} anyway)."
        )


def run_backfills(alias: str, stream=None) -> int:
    """Finish every pending backfill of the pending rollout, oldest first; resumable."""
    rollout = pending(alias)
    if rollout is None:
        return 0
    filled = 0
    legacy_schema = naming.legacy_schema(rollout.legacy_colour)
    while (
        _rewalk_attached_partitions(alias, rollout)
        or rollout.operations.filter(backfill_status="pending").exists()
    ):
        waiting = rollout.operations.filter(backfill_status="pending").order_by("seq")
        for operation in waiting.select_related("touched"):
            filled += _backfill(alias, operation, legacy_schema, stream)
    return filled


def _backfill(alias: str, operation: AppliedOperation, legacy_schema: str, stream) -> int:
    """Walk the whole table, or each partition queued in ``rewalk``, to the end."""
    plan = plan_of(operation.touched)
    index = index_in_plan(operation)
    (sync,) = [s for s in plan.ups if s.operation == index]
    filled = 0
    try:
        while operation.backfill_status == "pending":
            rewalk = operation.spec.get("rewalk") or [None]
            progress = backfill.Progress(stream)
            filled += backfill.run(
                alias, operation, plan, sync, legacy_schema, progress, partition=rewalk[0]
            )
            if rewalk[0] is not None:  # that partition is done; on to the next, if any
                operation.spec["rewalk"] = rewalk[1:]
                operation.backfill_status = "pending" if rewalk[1:] else "done"
                operation.backfill_checkpoint = None
                operation.save(update_fields=["spec", "backfill_status", "backfill_checkpoint"])
    except DataError as exc:  # the batch rolled back; its checkpoint stays behind it
        raise _backfill_failed(operation, plan.physical[sync.target], exc) from exc
    return filled


def leaf_partitions(connection, touched: TouchedTable) -> list[list[str]] | None:
    """[schema, name] of each leaf partition of the table; None if it is not partitioned."""
    found = catalog.partitions(connection, touched.schema, touched.table)
    return [[p.schema, p.name] for p in found if p.leaf] if found else None


def _rewalk_attached_partitions(alias: str, rollout: Rollout) -> bool:
    """Queue a walk of each partition attached since an operation's backfill finished;
    return whether any was queued.

    ``ATTACH PARTITION`` brings rows that never passed the sync trigger, maybe after
    the backfill finished: their new columns would stay NULL. Only those partitions
    are walked again, so the rows already walked keep what was written since.
    """
    connection, queued = connections[alias], False
    for operation in rollout.operations.filter(backfill_status="done").select_related("touched"):
        known = operation.spec.get("partitions")
        if known is None:
            continue
        now = leaf_partitions(connection, operation.touched) or []
        attached = [p for p in now if p not in known]
        if attached:
            operation.spec = {**operation.spec, "partitions": now, "rewalk": attached}
            operation.backfill_status, operation.backfill_checkpoint = "pending", None
            operation.save(update_fields=["spec", "backfill_status", "backfill_checkpoint"])
            queued = True
    return queued


def _backfill_failed(operation: AppliedOperation, column: str, exc: DataError) -> BackfillFailed:
    touched, spec = operation.touched, operation.spec
    detail = str(exc.__cause__ or exc).strip().splitlines()[0]
    return BackfillFailed(
        f"The backfill of {touched.table}.{column} failed: `up` = {spec['up']!r} of the "
        f"{spec['kind']} in {operation.app_label}.{operation.migration} raised "
        f"{detail!r} on an existing row. The migration is applied and the rollout is pending, "
        "with that column's remaining rows unfilled (legacy writes of such rows fail the same "
        "way). Run `manage.py compat rollback`, correct `up` and migrate again; or fix those "
        "rows and run `manage.py compat backfill`."
    )


def build_constraints(alias: str) -> int:
    """Build, under temporary names, the indexes and constraints new columns need.

    Idempotent and resumable: a finished object is skipped, an index a concurrent
    build left INVALID is dropped and rebuilt, an unvalidated foreign key validated.
    Returns how many objects were (re)built.
    """
    rollout = pending(alias)
    if rollout is None:
        return 0
    connection, built = connections[alias], 0
    with connection.schema_editor(atomic=False) as editor:
        for operation, names in finishing(rollout):
            touched = operation.touched
            for item in operation.spec.get("objects", []):
                temp = constraints.temporary_name(touched.table, item)
                state = catalog.object_state(connection, touched.schema, touched.table, temp)
                if state == "valid":
                    continue
                if item.get("carried"):
                    item = constraints.carry(
                        connection,
                        touched.schema,
                        touched.table,
                        item,
                        names["aside"],
                        names["column"],
                    )
                    if item is None:
                        continue
                if item["kind"] == constraints.INDEX and catalog.is_partitioned(
                    connection, touched.schema, touched.table
                ):
                    _build_on_partitions(editor, touched, names["column"], item)
                    built += 1
                    continue
                drop = f"DROP INDEX CONCURRENTLY IF EXISTS {sql.ident(touched.schema, temp)}"
                statements = constraints.build(touched.schema, touched.table, names["column"], item)
                if state == "invalid":
                    if item["kind"] in (constraints.FOREIGN_KEY, constraints.CHECK):
                        statements = statements[1:]  # added NOT VALID already: validate it
                    else:
                        editor.execute(drop, params=None)
                try:
                    for statement in statements:
                        sql.execute_concurrently(
                            editor,
                            statement,
                            undo_failed=drop,
                            on=[sql.ident(touched.schema, touched.table)],
                        )
                except IntegrityError as exc:
                    raise InvalidOperation(
                        f"Building {item['kind']} {item['name']} on {touched.table}."
                        f"{names['column']} failed: {str(exc.__cause__ or exc).strip()}. Fix "
                        "those rows (the rollout stays pending), then run `manage.py compat "
                        "backfill` to build it again."
                    ) from exc
                built += 1
    return built


def _build_on_partitions(editor, touched: TouchedTable, column: str, item: dict) -> None:
    """An index on a partitioned table (see ``constraints.index_on``), every step skipped
    when done, so that a rerun resumes: the parent's index ON ONLY, then each partition
    not attached yet, parents first, built (a leaf CONCURRENTLY) and attached."""
    connection = editor.connection
    temp = constraints.temporary_name(touched.table, item)
    root = touched.schema, touched.table
    sql.execute_concurrently(editor, constraints.index_on(*root, temp, column, item, parent=True))
    index_of = {root: temp}
    index_of.update(
        ((part.schema, part.table), part.name)
        for part in catalog.index_partitions(connection, touched.schema, temp)
    )
    for part in catalog.partitions(connection, touched.schema, touched.table):
        if (part.schema, part.name) in index_of:
            continue  # attached by an earlier run, or made by PostgreSQL with the partition
        name = constraints.partition_index_name(temp, part.schema, part.name)
        build = constraints.index_on(
            part.schema, part.name, name, column, item, parent=not part.leaf
        )
        if part.leaf:
            drop = f"DROP INDEX CONCURRENTLY IF EXISTS {sql.ident(part.schema, name)}"
            state = catalog.object_state(connection, part.schema, part.name, name)
            if state == "invalid":
                editor.execute(drop, params=None)
            if state != "valid":
                on = [sql.ident(part.schema, part.name)]
                sql.execute_concurrently(editor, build, undo_failed=drop, on=on)
        else:
            sql.execute_concurrently(editor, build)
        parent = index_of[part.parent_schema, part.parent]
        attach = constraints.attach_index(part.parent_schema, parent, part.schema, name)
        sql.execute_concurrently(editor, attach)
        index_of[part.schema, part.name] = name


def run_deferred(alias: str, stream=None) -> int:
    """The work no migration transaction may hold: backfills, then concurrent builds."""
    filled = run_backfills(alias, stream)
    build_constraints(alias)
    return filled


def run_deferred_in_migrate(alias: str, stream=None) -> int:
    """``run_deferred`` as ``migrate`` runs it, after its migrations commit: a server lost
    meanwhile is one message saying to migrate again (which resumes it)."""
    with lost_connection(alias, "`manage.py migrate` (or `manage.py compat backfill`)"):
        return run_deferred(alias, stream)


def complete(alias: str, force: bool = False) -> Rollout:
    rollout = _require_pending(alias)
    strays.refuse(connections[alias], rollout)  # before anything runs; --force or not
    if not force:
        check_sessions(alias, rollout.legacy_colour, "complete")
    run_deferred(alias)
    connection = connections[alias]
    with connection.schema_editor(atomic=False) as editor:
        for operation, names in finishing(rollout):
            touched = operation.touched
            try:
                sql.execute_all(
                    editor,
                    ddl.prepare(touched.schema, touched.table, operation.spec, names),
                    on=[sql.ident(touched.schema, touched.table)],
                )
            except IntegrityError as exc:
                args = (touched.schema, touched.table, operation.spec, names)
                sql.execute_all(editor, ddl.unprepare(*args))
                raise InvalidOperation(
                    f"Column {touched.table}.{names['column']} must become NOT NULL, but some "
                    "rows hold NULL (their `up` gave NULL). Fill them (the new colour can), "
                    "then run `compat complete` again; nothing else was changed."
                ) from exc
    with connection.schema_editor(atomic=False) as editor:
        return sql.step(
            editor, lambda: _finish(editor), "the final transaction of `compat complete`"
        )


def _finish(editor) -> Rollout:
    """``complete``'s one transaction, run again from the start while a lock is busy."""
    connection = editor.connection
    rollout = pending(connection.alias, lock=True)
    operations = list(rollout.operations.select_related("touched"))
    linked = _linked(connection, rollout, operations, undoing=False)
    lock(editor, rollout, _changed_tables(operations), linked)
    for touched in rollout.tables.all():
        _drop_table_objects(editor, rollout, touched)
    for operation, names in finishing(rollout):
        touched = operation.touched
        spec = _without_vanished(connection, operation)
        spec["not_null_name"] = constraints.not_null_name(
            connection, touched.schema, touched.table, spec, names
        )
        sql.execute_all(editor, ddl.finish(touched.schema, touched.table, spec, names))
        sql.execute_all(
            editor, constraints.partition_index_renames(connection, touched.schema, spec)
        )
    _close(editor, rollout, Rollout.COMPLETED)
    return rollout


def _without_vanished(connection, operation: AppliedOperation) -> dict:
    """The spec minus carried objects that were never built because a later migration
    dropped the old one (``constraints.carry``): there is nothing to give a name."""
    touched, spec = operation.touched, operation.spec
    objects = [
        item
        for item in spec.get("objects", [])
        if not item.get("carried")
        or catalog.object_state(
            connection,
            touched.schema,
            touched.table,
            constraints.temporary_name(touched.table, item),
        )
    ]
    return {**spec, "objects": objects}


def finishing(rollout: Rollout):
    """Each operation, oldest first, with the physical names its columns have now."""
    for touched in rollout.tables.order_by("pk"):
        plan = plan_of(touched)
        for index, operation in enumerate(touched.operations.order_by("seq")):
            names = {
                role: plan.physical[identity] for role, identity in plan.touched[index].items()
            }
            yield operation, names


def check_plain_operations(alias: str, rollout: Rollout) -> None:
    """Refuse to unrecord a migration whose plain operations this command cannot reverse.

    ``compat rollback`` works from the rollout state alone (so the old release can run
    it); a plain AddField next to a compat operation would stay applied yet unrecorded.
    So would a compat operation the rollout does not hold: it ran as its plain twin, on
    a table the same ``migrate`` created (``fresh``).
    """
    from django.db.migrations.loader import MigrationLoader

    from .operations.base import CompatOperation, database_operations

    loader = MigrationLoader(connections[alias], ignore_no_migrations=True)
    operations = [o for o in rollout.operations.all() if o.migration]
    held = {(o.app_label, o.migration, o.position) for o in operations}
    names = sorted({(o.app_label, o.migration) for o in operations})
    mixed = [
        f"{app}.{name}"
        for app, name in names
        if (app, name) in loader.disk_migrations
        and any(
            not isinstance(op, CompatOperation) or (app, name, position) not in held
            for position, op in enumerate(
                database_operations(loader.disk_migrations[app, name].operations)
            )
        )
    ]
    if mixed:
        raise RolloutConflict(
            f"Migration(s) {', '.join(mixed)} also contain plain operations (or compat "
            "operations that ran as plain ones, on tables the same migrate created), which "
            "`compat rollback` cannot reverse. Run `manage.py migrate <app> <previous "
            "migration>` from the new release instead (Django reverses the plain operations, "
            "compat_views the compat ones), or pass --force to undo only the compat operations."
        )


def _label(keys: Iterable[tuple[str, str]]) -> str:
    return ", ".join(f"{app}.{name}" for app, name in sorted(keys))


def _reverse_commands(graph, operations: list[AppliedOperation]) -> list[str]:
    """The ``manage.py migrate`` commands that reverse the rollout newest first: one per
    run of consecutive operations of one app, back to the migration before the run."""
    newest_first = sorted(operations, key=lambda o: -o.seq)
    commands = []
    for app_label, run in groupby(newest_first, key=lambda o: o.app_label):
        earliest = (app_label, list(run)[-1].migration)
        before = [p.key[1] for p in graph.node_map[earliest].parents if p.key[0] == app_label]
        commands.append(f"`manage.py migrate {app_label} {min(before, default='zero')}`")
    return commands


def check_later_migrations(alias: str, rollout: Rollout) -> None:
    """Refuse to unrecord the rollout's migrations while applied migrations depend on them.

    Unrecording them would leave the later migrations applied on top of unapplied
    parents: Django's next ``migrate`` stops with InconsistentMigrationHistory, and their
    plain operations stay. Only Django can reverse those, from the release that has
    their code, so not even --force skips this.
    """
    from django.db.migrations.loader import MigrationLoader

    connection = connections[alias]
    loader = MigrationLoader(connection, ignore_no_migrations=True)
    recorded = MigrationRecorder(connection).applied_migrations()
    operations = [o for o in rollout.operations.all() if o.migration]
    ours = {(o.app_label, o.migration) for o in operations}
    _refuse_dependents(loader.graph, recorded, ours, operations)
    _refuse_unknown(loader, recorded, ours)


def _refuse_dependents(graph, recorded: dict, ours: set, operations: list) -> None:
    parents = {key: ours & set(graph.forwards_plan(key)) for key in recorded if key in graph.nodes}
    dependent = {key: found for key, found in parents.items() if found and key not in ours}
    if dependent:
        raise RolloutConflict(
            f"Rolling back would unrecord {_label(set().union(*dependent.values()))}, but "
            f"applied migrations depend on them: {_label(dependent)}. Django would then refuse "
            "to migrate (InconsistentMigrationHistory), and their plain operations would stay. "
            "Reverse the rollout through Django instead, from the new release, which has "
            f"their code: {', then '.join(_reverse_commands(graph, operations))} (Django "
            "reverses the later migrations, compat_views the compat operations). Nothing was "
            "changed; --force does not skip this."
        )


def _refuse_unknown(loader, recorded: dict, ours: set[tuple[str, str]]) -> None:
    """A migration recorded after the rollout's first one that this release has no file
    for may depend on it too (the old release runs rollback); its own release can tell."""
    first = min((recorded[key].id for key in ours if key in recorded), default=None)
    unknown = [
        key
        for key, record in recorded.items()
        if first is not None
        and record.id > first
        and key not in ours
        and key not in loader.disk_migrations
    ]
    if unknown:
        raise RolloutConflict(
            f"Migration(s) {_label(unknown)} were applied after {_label(ours)}, and this "
            "release has no file for them, so it cannot tell whether they depend on the "
            "rollout's migrations. Run `manage.py compat rollback` from the release that "
            "applied them, which can. Nothing was changed."
        )


def rollback(alias: str, force: bool = False) -> Rollout:
    rollout = _require_pending(alias)
    check_later_migrations(alias, rollout)
    strays.refuse(connections[alias], rollout)
    if not force:
        check_sessions(alias, rollout.new_colour, "rollback")
        check_plain_operations(alias, rollout)
    with connections[alias].schema_editor(atomic=False) as editor:
        return sql.step(editor, lambda: _roll_back(editor), "the transaction of `compat rollback`")


def _roll_back(editor) -> Rollout:
    """``rollback``'s one transaction, run again from the start while a lock is busy."""
    rollout = pending(editor.connection.alias, lock=True)
    operations = list(rollout.operations.order_by("-seq").select_related("touched"))
    linked = _linked(editor.connection, rollout, operations, undoing=True)
    lock(editor, rollout, _changed_tables(operations), linked)
    migrations = {(o.app_label, o.migration) for o in operations if o.migration}
    tables = {touched.pk: touched for touched in rollout.tables.all()}
    for touched in tables.values():
        _drop_table_objects(editor, rollout, touched)
    for operation in operations:  # one object per table: a table rename moves it
        _undo_ddl(editor, tables[operation.touched_id], operation.spec)
    recorder = MigrationRecorder(editor.connection)
    for app_label, name in sorted(migrations):
        recorder.record_unapplied(app_label, name)
    _close(editor, rollout, Rollout.ROLLED_BACK)
    return rollout


def _require_pending(alias: str) -> Rollout:
    rollout = pending(alias)
    if rollout is None:
        raise RolloutConflict("No rollout is pending: there is nothing to complete or roll back.")
    return rollout
