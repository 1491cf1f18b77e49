"""The shapes of a table during a rollout, as plain data composed across its operations.

Pure functions only. Every physical column gets an identity (``orig:<name>`` for
the columns the legacy colour knew, ``op<i>:<name>`` for columns operation ``i``
created) so that names can change underneath it. Replaying the operation specs
gives, for the legacy shape and the new shape, which physical column serves each
name, and the sync expressions: ``up`` steps that a legacy writer's row goes
through (oldest first) and ``down`` steps for a new-shape writer (newest first),
each with the names in scope when its expression was written. Views, triggers
and the backfill are rendered from this; nothing here touches a database.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

RENAME_COLUMN = "rename_column"
ADD_COLUMN = "add_column"
ALTER_COLUMN = "alter_column"
REMOVE_COLUMN = "remove_column"
RENAME_TABLE = "rename_table"
REMOVE_TABLE = "remove_table"


@dataclass(frozen=True)
class Sync:
    """Set column ``target`` to ``expression``, whose names resolve through ``scope``.

    ``scope`` maps each column name of the shape the expression was written against
    to a column identity; ``operation`` is the index of the operation it comes from.
    """

    target: str
    expression: str
    scope: Mapping[str, str]
    operation: int


@dataclass
class Plan:
    legacy_columns: list[str]
    legacy: dict[str, str] = field(default_factory=dict)  # legacy name -> identity
    current: dict[str, str] = field(default_factory=dict)  # new-shape name -> identity
    physical: dict[str, str] = field(default_factory=dict)  # identity -> physical name
    ups: list[Sync] = field(default_factory=list)
    downs: list[Sync] = field(default_factory=list)
    touched: list[dict[str, str]] = field(default_factory=list)  # per operation: role -> identity

    @property
    def mapping(self) -> dict[str, str]:
        """{legacy column -> physical column}: what the legacy view selects."""
        return {name: self.physical[self.legacy[name]] for name in self.legacy_columns}

    def columns(self, scope: Mapping[str, str]) -> list[tuple[str, str]]:
        """(name, physical column) pairs of a scope, in a stable order."""
        return [(name, self.physical[identity]) for name, identity in scope.items()]


def _readable(plan: Plan, spec: Mapping) -> dict[str, str]:
    """The names an operation's expression may read: the new shape's now, minus the stored
    generated columns it recorded (PostgreSQL computes them after the sync trigger ran,
    and a trigger's WHEN clause may not even mention them)."""
    generated = spec.get("generated", ())
    return {name: identity for name, identity in plan.current.items() if name not in generated}


def _rename(plan: Plan, i: int, spec: Mapping) -> dict[str, str]:
    identity = plan.current.pop(spec["old"])
    plan.current[spec["new"]] = identity
    plan.physical[identity] = spec["new"]
    return {"column": identity}


def _add(plan: Plan, i: int, spec: Mapping) -> dict[str, str]:
    before = _readable(plan, spec)
    identity = f"op{i}:{spec['column']}"
    plan.current[spec["column"]] = identity
    plan.physical[identity] = spec["column"]
    if spec.get("up"):
        plan.ups.append(Sync(identity, spec["up"], before, i))
    return {"column": identity}


def _alter(plan: Plan, i: int, spec: Mapping) -> dict[str, str]:
    before = _readable(plan, spec)
    old = plan.current.pop(spec["column"])
    plan.physical[old] = spec["aside"]
    new = f"op{i}:{spec['new_column']}"
    plan.current[spec["new_column"]] = new
    plan.physical[new] = spec["new_column"]
    plan.ups.append(Sync(new, spec["up"], before, i))
    plan.downs.append(Sync(old, spec["down"], _readable(plan, spec), i))
    return {"column": new, "aside": old}


def _remove(plan: Plan, i: int, spec: Mapping) -> dict[str, str]:
    identity = plan.current.pop(spec["column"])
    plan.physical[identity] = spec["aside"]
    if spec.get("down"):
        plan.downs.append(Sync(identity, spec["down"], _readable(plan, spec), i))
    return {"aside": identity}


def _table(plan: Plan, i: int, spec: Mapping) -> dict[str, str]:
    """A rename or removal of the whole table leaves its columns as they are."""
    return {}


_APPLY = {
    RENAME_COLUMN: _rename,
    ADD_COLUMN: _add,
    ALTER_COLUMN: _alter,
    REMOVE_COLUMN: _remove,
    RENAME_TABLE: _table,
    REMOVE_TABLE: _table,
}


def _replay(plan: Plan, specs: Iterable[Mapping]) -> Plan:
    for spec in specs:
        plan.touched.append(_APPLY[spec["kind"]](plan, len(plan.touched), spec))
    return plan


def compose(legacy_columns: Iterable[str], specs: Iterable[Mapping]) -> Plan:
    """Replay operation specs, in order, over the columns the legacy colour knows."""
    columns = list(legacy_columns)
    plan = Plan(legacy_columns=columns)
    for name in columns:
        plan.legacy[name] = plan.current[name] = f"orig:{name}"
        plan.physical[f"orig:{name}"] = name
    return _replay(plan, specs)


def extend(plan: Plan, specs: Iterable[Mapping]) -> Plan:
    """A copy of ``plan`` with ``specs`` replayed after its own operations: the plan
    ``compose`` gives for all of them, without their specs (``plan`` is left as is)."""
    return _replay(copy.deepcopy(plan), specs)


def referenced(expression: str, scope: Mapping[str, str]) -> list[str]:
    """Names of ``scope`` an expression may read (a cheap over-approximation): written
    as they are, or quoted, with an embedded quote doubled."""
    text = expression.lower()
    return [
        name for name in scope if name.lower() in text or name.replace('"', '""').lower() in text
    ]
