"""Sync triggers: one function per table per rollout, rendered from the composed plan.

The function runs the ``up`` steps, oldest first, for a legacy writer (the first
schema of its search_path is the legacy schema) and the ``down`` steps, newest
first, for anybody else. It carries no ``SET search_path``: the writer's colour
is read from the caller's search_path, so every name in the body is
schema-qualified and quoted.

Two triggers execute it: one on INSERT, one on UPDATE with a ``WHEN`` clause
listing the columns the steps read, so an UPDATE that changes none of them never
enters plpgsql at all. Both are compiled, hashed and installed by django-pgtrigger,
but ``render_execute`` points them at our plain function: pgtrigger's own function
calls ``_pgtrigger_should_ignore()`` on every row, which enters an exception block
(a subtransaction) each time and doubles the cost of a bulk UPDATE.
"""

from __future__ import annotations

import pgtrigger
from pgtrigger import compiler
from pgtrigger.core import _ignore_func_name

from . import naming
from .mapping import Plan, Sync, referenced
from .sql import ident, literal

EVENTS = {"ins": pgtrigger.Insert, "upd": pgtrigger.Update}


def _sources(plan: Plan, sync: Sync) -> list[str]:
    return [plan.physical[sync.scope[name]] for name in referenced(sync.expression, sync.scope)]


def _step(plan: Plan, sync: Sync, base: str) -> str:
    """One assignment, computed on INSERT or when a column it reads changed."""
    names = referenced(sync.expression, sync.scope)
    variables = " ".join(
        f"{ident(name)} {base}.{ident(plan.physical[sync.scope[name]])}%TYPE "
        f":= _compat_new.{ident(plan.physical[sync.scope[name]])};"
        for name in names
    )
    changed = " OR ".join(
        f"_compat_new.{ident(column)} IS DISTINCT FROM _compat_old.{ident(column)}"
        for column in _sources(plan, sync)
    )
    condition = f"_compat_insert OR {changed}" if changed else "_compat_insert"
    target = ident(plan.physical[sync.target])
    return (
        f"IF {condition} THEN DECLARE {variables} BEGIN "
        f"_compat_new.{target} := ({sync.expression}); END; END IF;"
    )


def render_block(base_schema: str, table: str, legacy_schema: str, plan: Plan) -> str:
    """A self-contained plpgsql block ending in RETURN, run by every function we install.

    NEW and OLD are aliased first so that column names such as ``new`` can be
    declared as variables without shadowing them.
    """
    base = ident(base_schema, table)
    ups = " ".join(_step(plan, sync, base) for sync in plan.ups)
    downs = " ".join(_step(plan, sync, base) for sync in reversed(plan.downs))
    return (
        "DECLARE _compat_new ALIAS FOR NEW; _compat_old ALIAS FOR OLD; "
        "_compat_insert boolean := TG_OP = 'INSERT'; "
        f"BEGIN IF (pg_catalog.current_schemas(false))[1] = {literal(legacy_schema)} "
        f"THEN {ups or 'NULL;'} ELSE {downs or 'NULL;'} END IF; "
        "RETURN _compat_new; END;"
    )


def update_condition(plan: Plan) -> str:
    """The UPDATE trigger's WHEN: some column a step reads changed."""
    columns = dict.fromkeys(c for sync in plan.ups + plan.downs for c in _sources(plan, sync))
    return " OR ".join(f"OLD.{ident(c)} IS DISTINCT FROM NEW.{ident(c)}" for c in columns)


class SyncTrigger(pgtrigger.Trigger):
    """A BEFORE row trigger under compat_views' own name prefix."""

    when = pgtrigger.Before
    level = pgtrigger.Row

    def __init__(
        self, *, base_schema: str, table: str, event: str, block: str, condition: str = ""
    ) -> None:
        self.base_schema, self.table, self.sql_condition = base_schema, table, condition
        super().__init__(
            name=naming.sync_trigger(base_schema, table, event),
            operation=EVENTS[event],
            func=block,
        )

    def get_pgid(self, model=None) -> str:
        return self.name

    def render_execute(self, model=None) -> str:
        return f"{ident(self.base_schema, naming.sync_function(self.base_schema, self.table))}()"

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
                condition=f"WHEN ({self.sql_condition})" if self.sql_condition else "",
                execute=self.render_execute(),
            ),
        )


def triggers_for(base_schema: str, table: str, legacy_schema: str, plan: Plan) -> list[SyncTrigger]:
    block = render_block(base_schema, table, legacy_schema, plan)
    triggers = [SyncTrigger(base_schema=base_schema, table=table, event="ins", block=block)]
    condition = update_condition(plan)
    if condition:
        triggers.append(
            SyncTrigger(
                base_schema=base_schema, table=table, event="upd", block=block, condition=condition
            )
        )
    return triggers


def render_install(
    base_schema: str, table: str, legacy_schema: str, plan: Plan, wrapper_schema: str | None
) -> list[str]:
    triggers = triggers_for(base_schema, table, legacy_schema, plan)
    block = triggers[0].func
    tag = f"$compat_{naming.digest(block, length=8)}$"
    function = ident(base_schema, naming.sync_function(base_schema, table))
    return [
        *render_uninstall(base_schema, table, wrapper_schema),
        f"CREATE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql "
        f"AS {tag} BEGIN {block} END; {tag}",
        *(trigger.compile().install_sql for trigger in triggers),
    ]


def render_uninstall(base_schema: str, table: str, wrapper_schema: str | None) -> list[str]:
    """Drop both triggers, our function, and pgtrigger's wrappers wherever they were made."""
    statements = []
    for event in EVENTS:
        name = naming.sync_trigger(base_schema, table, event)
        statements.append(f"DROP TRIGGER IF EXISTS {ident(name)} ON {ident(base_schema, table)}")
        if wrapper_schema:
            statements.append(f"DROP FUNCTION IF EXISTS {ident(wrapper_schema, name)}()")
    function = ident(base_schema, naming.sync_function(base_schema, table))
    statements.append(f"DROP FUNCTION IF EXISTS {function}()")
    return statements
