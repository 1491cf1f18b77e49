"""Sync triggers: per table per rollout, one function per direction, rendered from the plan.

The ``up`` function runs the ``up`` steps, oldest first, for a legacy writer (the
first schema of its effective search_path, ``current_schema()``, is the legacy
schema); the ``down`` function runs the ``down`` steps, newest first, for anybody
else. Each executes under a BEFORE INSERT and a BEFORE UPDATE row trigger whose
``WHEN`` clause tests the writer's colour and, on UPDATE, whether a column the
steps read changed. ``WHEN`` is evaluated without entering plpgsql, so a row that
needs no sync (an UPDATE of other columns, the other colour's trigger, a backfill
batch, which runs as a legacy writer and only sets new columns) costs almost
nothing. The functions carry no ``SET search_path``: every name in them is
schema-qualified and quoted. Each step calls its operation's step function
(``render_step``), which the backfill calls too, so an expression is evaluated the
same way, over the same tables, whichever colour writes.

A third set of triggers, the guard (INSERT, UPDATE and DELETE), fails the statement of
a session whose configured search_path puts the legacy schema first but whose names
resolve elsewhere, typically because its role may not use that schema: Postgres
silently skips such a schema, so that session would reach the base table, pass for
a new-shape writer, and store legacy values in new-shape columns (or delete by
them). A table gets it when it has sync steps or a legacy column name now names
another column; otherwise legacy names fail loudly on the base table anyway. Its test
reads the session's settings, never a row, so it is a statement trigger: once per
statement, before any row is written, instead of a ``WHEN`` (reading the search_path
setting) on every row of every writer, which cost a bulk UPDATE more than a tenth.

The triggers are compiled, hashed and installed by django-pgtrigger, but
``render_execute`` points them at our plain functions: pgtrigger's own function
calls ``_pgtrigger_should_ignore()`` on every row, which enters an exception block
(a subtransaction) each time and doubles the cost of a bulk UPDATE.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

import pgtrigger
from pgtrigger import compiler
from pgtrigger.core import _ignore_func_name

from . import naming
from .mapping import Plan, Sync, referenced
from .sql import ident, literal

EVENTS = {"ins": pgtrigger.Insert, "upd": pgtrigger.Update}
GUARD_EVENTS = {**EVENTS, "del": pgtrigger.Delete}
DIRECTIONS = ("up", "down")
GUARD = "guard"  # the third "direction": refuse a legacy writer that cannot see its views


def configured_first(legacy_schema: str, resolved_elsewhere: str) -> str:
    """Whether the session's *configured* search_path puts ``legacy_schema`` first, while
    ``resolved_elsewhere`` (a test of its effective path) holds.

    ``current_schema()`` skips a schema the role may not use, so a legacy session
    whose role lacks USAGE on its legacy schema would resolve to the base table and
    pass for a new-shape writer. The setting itself still names the colour. Leading
    ``"$user"``, ``pg_temp`` or ``pg_catalog`` entries are looked past (an existing
    one would come first in ``current_schema()`` too). The name is matched as ``SET``
    and ``ALTER ROLE … SET`` store it, in lower case.
    """
    lead = r'(("\$user"|pg_temp|pg_catalog)\s*,\s*)*'
    pattern = f'^\\s*{lead}"?{legacy_schema}"?\\s*(,|$)'
    setting = "pg_catalog.current_setting('search_path')"
    # strpos first: it is false at once for every other colour, and a regular expression
    # per row would cost a bulk UPDATE of the new colour a third more; then the effective
    # path, false at once for the legacy colour's own sessions, so that only a session
    # about to be refused matches the expression.
    return (
        f"pg_catalog.strpos({setting}, {literal(legacy_schema)}) > 0 "
        f"AND {resolved_elsewhere} AND {setting} ~* {literal(pattern)}"
    )


def render_guard(legacy_schema: str, table: str) -> str:
    """The guard function's block: fail the write loudly instead of storing it wrongly."""
    message = (
        f"compat_views: this session's search_path names {legacy_schema} first, but role %s "
        f"resolves names in schema %s, so it reached table {table} instead of the legacy view "
        "and would write the new shape as the legacy colour"
    )
    hint = (
        f"Put {legacy_schema} first in search_path and make sure the role may use it: "
        "`compat status` lists roles that lack USAGE on the legacy schema or privileges on "
        "its views, with the GRANT statements to run."
    )
    return (
        "BEGIN RAISE EXCEPTION USING ERRCODE = 'insufficient_privilege', MESSAGE = "
        f"pg_catalog.format({literal(message)}, pg_catalog.quote_ident(current_user::text), "
        "COALESCE(pg_catalog.current_schema()::text, '(none)')), "
        f"HINT = {literal(hint)}; END;"
    )


def names_reused(plan: Plan) -> bool:
    """Whether some legacy column name now names another column of the base table.

    A legacy session that reached the base table would then write that other column
    without an error; otherwise its legacy names fail loudly there.
    """
    base = set(plan.physical.values())
    return any(name != physical and name in base for name, physical in plan.mapping.items())


def _sources(plan: Plan, sync: Sync) -> list[str]:
    return [plan.physical[sync.scope[name]] for name in referenced(sync.expression, sync.scope)]


# The values each integer type holds; what a column of a bounded type may be assigned.
INTEGERS = {
    "smallint": (-(2**15), 2**15 - 1),
    "integer": (-(2**31), 2**31 - 1),
    "bigint": (-(2**63), 2**63 - 1),
}
_BOUNDED = re.compile(r"^(numeric|character varying|character)\((\d+)(?:,(\d+))?\)$")
_STRINGS = ("text", "character varying", "character")
VALUE = "{value}"  # where a Fit's message shows the value


def _bounds(type_sql: str) -> tuple[str, int, int]:
    """(base type, precision or length, scale) of a ``format_type`` name; 0s if unbounded."""
    found = _BOUNDED.match(type_sql)
    return (found[1], int(found[2]), int(found[3] or 0)) if found else (type_sql, 0, 0)


def _integer_digits(type_sql: str) -> int | None:
    """How many digits before the point every value of ``type_sql`` fits in (None: any)."""
    if type_sql in INTEGERS:
        return len(str(INTEGERS[type_sql][1]))
    base, precision, scale = _bounds(type_sql)
    return precision - scale if base == "numeric" and precision else None


def unfit(natural: str, target: str, value: str) -> tuple[str, str] | None:
    """A test, true when ``value`` (of type ``natural``) is one that assigning it to a
    ``target`` column fails on, and the SQLSTATE of that failure; None when every value
    of ``natural`` fits or ``target`` is not a bound checked here.

    The test mirrors the assignment cast: a number fits an integer type if the cast's
    rounding lands in range (numeric rounds half away from zero, floating point to even,
    as ``round`` does), a ``numeric(p, s)`` if it is below 10^(p - s) once rounded to
    ``s`` places, and a string is too long for ``varchar(n)`` or ``char(n)`` only by more
    than trailing spaces. A NULL value makes the test NULL, so it passes.
    """
    kind, length, places = _bounds(natural)
    digits = _integer_digits(natural)
    number = natural in INTEGERS or kind in ("numeric", "real", "double precision")
    base, size, scale = _bounds(target)
    if target in INTEGERS and number:
        low, high = INTEGERS[target]
        if digits is not None and 10**digits <= high:
            return None
        if natural in INTEGERS:
            return f"{value} NOT BETWEEN {low} AND {high}", "numeric_value_out_of_range"
        # The test runs on every synced row: comparisons only, no arithmetic. NaN sorts
        # above every number, so it fails, as it fails the cast.
        if kind == "numeric":  # low - 0.5 < v < high + 0.5: the cast rounds half away from 0
            test = f"{value} >= {high}.5 OR {value} <= {low}.5"
        else:  # floating point rounds half to even, as round() does
            rounded = f"pg_catalog.round({value})"
            test = f"{rounded} < '{low}'::float8 OR {rounded} >= '{high + 1}'::float8"
        return test, "numeric_value_out_of_range"
    if base == "numeric" and size and number:
        if digits is not None and digits <= size - scale and places <= scale:
            return None
        # |v| rounds (half away from zero) to 10^(p - s) or more from this bound on, so
        # no round() per row; the NaN test (NaN fits) only runs on a value at the bound.
        bound = f"{10 ** (size - scale) - 1}.{'9' * scale}5"
        exact = value if kind == "numeric" else f"({value})::numeric"
        test = f"pg_catalog.abs({exact}) >= {bound} AND {exact} <> 'NaN'"
        return test, "numeric_value_out_of_range"
    if base in _STRINGS[1:] and size:
        if kind in _STRINGS[1:] and length and length <= size:
            return None
        text = value if kind in _STRINGS else f"({value})::text"
        return (
            f"pg_catalog.char_length({text}) > {size} "
            f"AND pg_catalog.char_length(pg_catalog.rtrim({text})) > {size}",
            "string_data_right_truncation",
        )
    return None


@dataclass(frozen=True)
class Fit:
    """What a step needs to refuse, by name, a value its target column cannot hold.

    ``natural`` is the expression's own type (``lifecycle.natural_type``); ``message``
    names the column, the operation and what to do, with ``VALUE`` where the value goes.
    """

    helper: str  # quoted, schema-qualified name of the raising function
    check: str  # quoted, schema-qualified name of the domain whose CHECK tests the value
    bare: str | None  # quoted, schema-qualified name of the step without the test, if any
    natural: str
    message: str


def render_step(
    function: str,
    params: list[tuple[str, str]],
    returns: str,
    expression: str,
    fit: Fit | None = None,
) -> list[str]:
    """``CREATE FUNCTION`` of one step: ``expression`` as a SQL function of the names it reads.

    The trigger, the backfill and the check before any DDL all evaluate an expression
    through such a function, so what validates is what runs. A ``BEGIN ATOMIC`` body is
    parsed once, when the function is created: its table and function names resolve
    then, under the migrating session's search_path (the new colour's: base tables,
    never a legacy view), whoever calls it later, and it keeps reading the same tables
    and columns when a later operation renames them. Parameters are named like the
    columns; a column of a subquery takes precedence over a parameter of the same name,
    as in any SQL scope. The result is assignment-cast to ``returns``, as by an UPDATE.
    PostgreSQL inlines a step without a subquery into its caller, so the call costs no
    more than the expression.

    With ``fit``, the value is cast to the domain ``fit.check``, whose CHECK sends a
    value that ``returns`` cannot hold to the helper, which raises an error naming the
    column and the operation, instead of PostgreSQL's own, which names neither. The
    helper is only called then (no exception block, no call per row). A domain tests
    the value it was given, so the expression is evaluated once however often the test
    reads it, and the value tested is the value stored; a ``CASE`` over the inlined
    expression would evaluate it again for each mention (a numeric ``down`` cost a bulk
    UPDATE of the synced column a thirtieth more that way).

    A checked step whose ``fit.bare`` is named (an ``up``) also gets that function, the
    expression alone, without the test: a backfill batch, that writes most rows of a
    table, runs the bare step and only re-runs a batch that failed with the checked
    one, for the named error.

    Each function is executable by PUBLIC, whatever default privileges say: every
    writer's sync trigger calls it, and it runs with the caller's rights.
    """
    args = ", ".join(f"{ident(name)} {type_sql}" for name, type_sql in params)
    value = f"({expression})"
    test = fit and unfit(fit.natural, returns, "VALUE")

    def create(name: str, value: str) -> str:
        return (
            f"CREATE FUNCTION {name}({args}) RETURNS {returns} LANGUAGE sql "
            f"BEGIN ATOMIC SELECT {value}; END"
        )

    statements = []
    if test:
        condition, state = test
        statements += [
            render_unfit(fit, state),
            f"CREATE DOMAIN {fit.check} AS {unbounded(fit.natural)} CHECK (CASE WHEN "
            f"{condition} THEN {fit.helper}(VALUE::text) ELSE true END)",
            *([create(fit.bare, value)] if fit.bare else []),
        ]
        value = f"{value}::{fit.check}"
    statements.append(create(function, value))
    created = [n for n in (function, *((fit.helper, fit.bare) if test else ())) if n]
    return [
        *statements,
        *(f"GRANT EXECUTE ON FUNCTION {name} TO PUBLIC" for name in created),
        *([f"GRANT USAGE ON DOMAIN {fit.check} TO PUBLIC"] if test else []),
    ]


def unbounded(type_sql: str) -> str:
    """``type_sql`` without the bound ``_bounds`` reads: a fit's domain holds the
    expression's value as it is, and the step's parameters carry no bound either, so a
    bound there would only coerce, on every row, a value already within it."""
    base, size, _ = _bounds(type_sql)
    if not size:
        return type_sql
    return "bpchar" if base == "character" else base  # a bare ``character`` is char(1)


def render_unfit(fit: Fit, state: str) -> str:
    """The helper: raise ``fit.message`` with the value, under the SQLSTATE PostgreSQL
    itself would raise, so a client matching the error class still does."""
    message = (
        f"pg_catalog.replace({literal(fit.message)}, {literal(VALUE)}, "
        "pg_catalog.quote_nullable(value))"
    )
    body = f"BEGIN RAISE EXCEPTION USING ERRCODE = {literal(state)}, MESSAGE = {message}; END;"
    return (
        f"CREATE FUNCTION {fit.helper}(value text) RETURNS boolean LANGUAGE plpgsql "
        f"AS {literal(body)}"
    )


def step_function(base_schema: str, key: str, sync: Sync) -> str:
    return ident(base_schema, naming.sync_step(base_schema, key, sync.operation, sync.target))


def bare_function(base_schema: str, key: str, sync: Sync) -> str:
    return ident(base_schema, naming.sync_bare(base_schema, key, sync.operation, sync.target))


def call(
    base_schema: str, key: str, plan: Plan, sync: Sync, row: str, function=step_function
) -> str:
    """The step (or another function of it, named by ``function``) evaluated over
    ``row``'s physical columns."""
    args = ", ".join(f"{row}.{ident(column)}" for column in _sources(plan, sync))
    return f"{function(base_schema, key, sync)}({args})"


def syncs_of(plan: Plan, operation: int) -> list[Sync]:
    return [sync for sync in (*plan.ups, *plan.downs) if sync.operation == operation]


def unfit_function(base_schema: str, key: str, sync: Sync) -> str:
    return ident(base_schema, naming.sync_unfit(base_schema, key, sync.operation, sync.target))


def fit_domain(base_schema: str, key: str, sync: Sync) -> str:
    return ident(base_schema, naming.sync_fit(base_schema, key, sync.operation, sync.target))


def step_params(plan: Plan, sync: Sync, types: dict[str, str]) -> list[tuple[str, str]]:
    """(name, SQL type) of each column the step reads (``types``: physical -> SQL type)."""
    return [
        (name, types[plan.physical[sync.scope[name]]])
        for name in referenced(sync.expression, sync.scope)
    ]


def render_steps(
    base_schema: str,
    key: str,
    plan: Plan,
    operation: int,
    types: dict[str, str],
    fits: dict[str, Fit],
) -> list[str]:
    """Create the step functions of the table's ``operation``-th operation, once, when it
    is applied (``types``: physical column -> SQL type; ``fits``: target -> its Fit).
    Rebuilding the triggers leaves them alone, so their names stay bound to what they
    meant then."""
    return [
        statement
        for sync in syncs_of(plan, operation)
        for statement in render_step(
            step_function(base_schema, key, sync),
            step_params(plan, sync, types),
            types[plan.physical[sync.target]],
            sync.expression,
            fits.get(sync.target),
        )
    ]


def render_drop_steps(
    base_schema: str, key: str, plan: Plan, operations: Iterable[int]
) -> list[str]:
    """Drop the steps of ``operations`` and their bare twins, each before the domain it
    casts to, and that before the helper its CHECK calls."""
    syncs = [sync for operation in operations for sync in syncs_of(plan, operation)]
    kinds = (
        ("FUNCTION", step_function),
        ("FUNCTION", bare_function),
        ("DOMAIN", fit_domain),
        ("FUNCTION", unfit_function),
    )
    return [
        f"DROP {kind} IF EXISTS {name(base_schema, key, sync)}"
        for sync in syncs
        for kind, name in kinds
    ]


def _step(base_schema: str, key: str, plan: Plan, sync: Sync, guarded: bool) -> str:
    """One assignment; ``guarded`` when other steps share the function, so it runs on
    INSERT or when a column it reads changed (the trigger's WHEN can't tell them apart)."""
    target = ident(plan.physical[sync.target])
    body = f"NEW.{target} := {call(base_schema, key, plan, sync, 'NEW')};"
    changed = " OR ".join(
        f"NEW.{ident(c)} IS DISTINCT FROM OLD.{ident(c)}" for c in _sources(plan, sync)
    )
    if not guarded:
        return body
    return f"IF TG_OP = 'INSERT' OR {changed or 'false'} THEN {body} END IF;"


def steps(plan: Plan, direction: str) -> list[Sync]:
    return plan.ups if direction == "up" else list(reversed(plan.downs))


def render_block(base_schema: str, key: str, plan: Plan, direction: str) -> str:
    """A self-contained plpgsql block ending in RETURN, run by every function of a direction.

    It declares no variable: each step is a call of its step function, so no column
    name can clash with a plpgsql name.
    """
    todo = steps(plan, direction)
    body = " ".join(_step(base_schema, key, plan, sync, guarded=len(todo) > 1) for sync in todo)
    return f"BEGIN {body} RETURN NEW; END;"


# PostgreSQL fires a table's BEFORE UPDATE row triggers in name order.
FIRES_FIRST = min(DIRECTIONS, key=lambda d: naming.sync_trigger("schema", "table", "upd", d))


def _condition(plan: Plan, direction: str, event: str, legacy_schema: str) -> str:
    """The trigger's WHEN: the writer's colour and, on UPDATE, whether a source changed.

    On UPDATE the trigger that fires first tests the change first: an UPDATE of other
    columns, the common case, is then ruled out by a comparison, before any colour
    test. The second one tests the colour first: when the first fired it had the
    other colour and changed NEW, and the colour alone rules this one out, without
    reading the columns of the tuple the first one formed.
    """
    test = "=" if direction == "up" else "IS DISTINCT FROM"
    colour = f"pg_catalog.current_schema() {test} {literal(legacy_schema)}"
    if direction == GUARD:
        return configured_first(legacy_schema, colour)
    if event == "ins":
        return colour
    columns = dict.fromkeys(c for sync in steps(plan, direction) for c in _sources(plan, sync))
    changed = " OR ".join(f"OLD.{ident(c)} IS DISTINCT FROM NEW.{ident(c)}" for c in columns)
    if not changed:
        return ""
    return f"({changed}) AND {colour}" if direction == FIRES_FIRST else f"{colour} AND ({changed})"


class SyncTrigger(pgtrigger.Trigger):
    """A BEFORE trigger under compat_views' own name prefix: per row for a sync
    direction, per statement for the guard, whose test reads only the session."""

    def __init__(
        self,
        *,
        base_schema: str,
        table: str,
        event: str,
        direction: str,
        block: str,
        condition: str,
        key: str,
    ) -> None:
        self.base_schema, self.table, self.direction = base_schema, table, direction
        self.sql_condition, self.key = condition, key
        super().__init__(
            name=naming.sync_trigger(base_schema, key, event, direction),
            when=pgtrigger.Before,
            level=pgtrigger.Statement if direction == GUARD else pgtrigger.Row,
            operation=GUARD_EVENTS[event],
            func=block,
        )

    def get_pgid(self, model=None) -> str:
        return self.name

    def render_execute(self, model=None) -> str:
        function = naming.sync_function(self.base_schema, self.key, self.direction)
        return f"{ident(self.base_schema, function)}()"

    def compile(self, model=None) -> compiler.Trigger:
        """pgtrigger's compiler, fed a quoted schema-qualified table (no model needed)."""
        return compiler.Trigger(
            name=self.name,
            sql=compiler.UpsertTriggerSql(
                ignore_func_name=_ignore_func_name(),
                pgid=self.get_pgid(),
                declare="",
                func=self.func,
                table=ident(self.base_schema, self.table),
                when=self.when,
                operation=self.operation,
                level=self.level,
                condition=f"WHEN ({self.sql_condition})",
                execute=self.render_execute(),
            ),
        )


def _blocks(
    base_schema: str, table: str, legacy_schema: str, plan: Plan, key: str
) -> dict[str, str]:
    """The plpgsql block of each function the plan needs: a direction with no steps
    gets none, and a table with any step gets the guard."""
    blocks = {
        direction: render_block(base_schema, key, plan, direction)
        for direction in DIRECTIONS
        if steps(plan, direction)
    }
    if blocks or names_reused(plan):
        blocks[GUARD] = render_guard(legacy_schema, table)
    return blocks


def triggers_for(
    base_schema: str, table: str, legacy_schema: str, plan: Plan, key: str
) -> list[SyncTrigger]:
    """The triggers a plan needs: a function with no block, or an UPDATE that reads
    no column, gets none.

    ``key`` names the triggers and functions: the table's legacy name, which a rename
    of the table during the rollout does not change.
    """
    found = []
    for direction, block in _blocks(base_schema, table, legacy_schema, plan, key).items():
        for event in GUARD_EVENTS if direction == GUARD else EVENTS:
            condition = _condition(plan, direction, event, legacy_schema)
            if condition:
                found.append(
                    SyncTrigger(
                        base_schema=base_schema,
                        table=table,
                        event=event,
                        direction=direction,
                        block=block,
                        condition=condition,
                        key=key,
                    )
                )
    return found


def render_install(
    base_schema: str,
    table: str,
    legacy_schema: str,
    plan: Plan,
    wrapper_schema: str | None,
    key: str,
) -> list[str]:
    """Replace the table's triggers and their functions with the ones ``plan`` needs.

    The functions are STABLE: they change NEW, never the database, and a VOLATILE
    plpgsql function advances the command counter and takes a new snapshot before each
    expression that calls a non-immutable function (every step's does: the helper that
    refuses a value its column cannot hold). Per row of a bulk write that cost a tenth
    more time while other sessions committed, when each such snapshot is computed anew.
    A step whose expression reads tables is a function of its own, volatile, which
    still takes its own snapshot, so it sees what it saw before.
    """
    statements = render_uninstall(base_schema, table, wrapper_schema, key)
    for direction, block in _blocks(base_schema, table, legacy_schema, plan, key).items():
        tag = f"$compat_{naming.digest(block, length=8)}$"
        function = ident(base_schema, naming.sync_function(base_schema, key, direction))
        statements.append(
            f"CREATE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql STABLE "
            f"AS {tag} {block} {tag}"
        )
    triggers = triggers_for(base_schema, table, legacy_schema, plan, key)
    return [*statements, *(trigger.compile().install_sql for trigger in triggers)]


def all_trigger_names(base_schema: str, key: str) -> list[str]:
    return [
        *(naming.sync_trigger(base_schema, key, e, d) for e in EVENTS for d in DIRECTIONS),
        *(naming.sync_trigger(base_schema, key, e, GUARD) for e in GUARD_EVENTS),
    ]


def render_uninstall(
    base_schema: str, table: str, wrapper_schema: str | None, key: str
) -> list[str]:
    """Drop every trigger, our functions, and pgtrigger's wrappers wherever they were made."""
    statements = []
    for name in all_trigger_names(base_schema, key):
        statements.append(f"DROP TRIGGER IF EXISTS {ident(name)} ON {ident(base_schema, table)}")
        if wrapper_schema:
            statements.append(f"DROP FUNCTION IF EXISTS {ident(wrapper_schema, name)}()")
    for direction in (*DIRECTIONS, GUARD):
        function = ident(base_schema, naming.sync_function(base_schema, key, direction))
        statements.append(f"DROP FUNCTION IF EXISTS {function}()")
    return statements
