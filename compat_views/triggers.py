"""Sync triggers: one per table per rollout, rendered from the composed mapping.

The trigger is compiled and hashed by django-pgtrigger (so its install SQL, hash
comment and status check are pgtrigger's), but ``render_execute`` points it at a
plain plpgsql function of ours with the same body: pgtrigger's own function calls
``_pgtrigger_should_ignore()`` on every row, which enters an exception block (a
subtransaction) each time, and that doubles the cost of a bulk UPDATE.

The functions carry no ``SET search_path``: the writer's colour is read from the
caller's search_path, so every name in the body is schema-qualified and quoted.
"""

from __future__ import annotations

import pgtrigger
from pgtrigger import compiler
from pgtrigger.core import _ignore_func_name

from . import naming
from .mapping import TableShape
from .sql import ident, literal


def _referenced(shape: TableShape, expression: str) -> list[str]:
    """Legacy columns an ``up`` expression may read (a cheap over-approximation)."""
    text = expression.lower()
    return [legacy for legacy in shape.legacy_columns if legacy.lower() in text]


def render_block(base_schema: str, table: str, legacy_schema: str, shape: TableShape) -> str:
    """A self-contained plpgsql block that ends in RETURN; both functions run it.

    NEW and OLD are aliased first so that legacy column names such as ``new`` can be
    declared as variables without shadowing them.
    """
    variables, steps = [], []
    for legacy in dict.fromkeys(c for s in shape.syncs for c in _referenced(shape, s.up)):
        physical = ident(shape.mapping[legacy])
        column_type = f"{ident(base_schema, table)}.{physical}%TYPE"
        variables.append(f"{ident(legacy)} {column_type} := _compat_new.{physical};")
    for sync in shape.syncs:
        changed = " OR ".join(
            f"_compat_new.{ident(shape.mapping[c])} IS DISTINCT FROM "
            f"_compat_old.{ident(shape.mapping[c])}"
            for c in _referenced(shape, sync.up)
        )
        condition = f"_compat_insert OR ({changed})" if changed else "_compat_insert"
        steps.append(
            f"IF {condition} THEN _compat_new.{ident(sync.column)} := ({sync.up}); END IF;"
        )
    return (
        "DECLARE _compat_new ALIAS FOR NEW; _compat_old ALIAS FOR OLD; "
        "_compat_insert boolean := TG_OP = 'INSERT'; "
        "BEGIN "
        f"IF (pg_catalog.current_schemas(false))[1] IS DISTINCT FROM {literal(legacy_schema)} "
        "THEN RETURN _compat_new; END IF; "
        f"DECLARE {' '.join(variables)} BEGIN {' '.join(steps)} END; "
        "RETURN _compat_new; "
        "END;"
    )


class SyncTrigger(pgtrigger.Trigger):
    """A BEFORE INSERT OR UPDATE row trigger under compat_views' own name prefix."""

    when = pgtrigger.Before
    operation = pgtrigger.Insert | pgtrigger.Update
    level = pgtrigger.Row

    def __init__(self, *, base_schema: str, table: str, block: str) -> None:
        self.base_schema, self.table = base_schema, table
        super().__init__(name=naming.sync_trigger(base_schema, table), func=block)

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
                condition="",
                execute=self.render_execute(),
            ),
        )


def render_install(
    base_schema: str, table: str, legacy_schema: str, shape: TableShape
) -> list[str]:
    block = render_block(base_schema, table, legacy_schema, shape)
    tag = f"$compat_{naming.digest(block, length=8)}$"
    function = ident(base_schema, naming.sync_function(base_schema, table))
    trigger = SyncTrigger(base_schema=base_schema, table=table, block=block)
    return [
        f"CREATE OR REPLACE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql "
        f"AS {tag} BEGIN {block} END; {tag}",
        trigger.compile().install_sql,
    ]


def render_uninstall(base_schema: str, table: str, wrapper_schema: str | None) -> list[str]:
    """Drop the trigger, our function, and pgtrigger's wrapper wherever it was created."""
    statements = [
        f"DROP TRIGGER IF EXISTS {ident(naming.sync_trigger(base_schema, table))} "
        f"ON {ident(base_schema, table)}",
        f"DROP FUNCTION IF EXISTS {ident(base_schema, naming.sync_function(base_schema, table))}()",
    ]
    if wrapper_schema:
        wrapper = ident(wrapper_schema, naming.sync_trigger(base_schema, table))
        statements.append(f"DROP FUNCTION IF EXISTS {wrapper}()")
    return statements
