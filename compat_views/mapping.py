"""The legacy shape of a table as plain data, composed across a rollout's operations.

Pure functions only: given the columns the legacy colour knew and the operations
applied since, say which physical column serves each legacy column and which
physical columns the sync trigger must compute for legacy writers. Views and
triggers are rendered from this; nothing here touches a database.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

RENAME_COLUMN = "rename_column"
ADD_COLUMN = "add_column"


@dataclass(frozen=True)
class Sync:
    """``column`` is computed from ``up`` (over legacy names) when a legacy writer writes."""

    column: str
    up: str


@dataclass
class TableShape:
    legacy_columns: list[str]
    mapping: dict[str, str] = field(default_factory=dict)
    hidden: list[str] = field(default_factory=list)
    syncs: list[Sync] = field(default_factory=list)

    @property
    def physical(self) -> set[str]:
        return set(self.mapping.values()) | set(self.hidden)


def _rename(shape: TableShape, spec: Mapping) -> None:
    old, new = spec["old"], spec["new"]
    shape.mapping = {
        legacy: (new if phys == old else phys) for legacy, phys in shape.mapping.items()
    }
    shape.hidden = [new if col == old else col for col in shape.hidden]
    shape.syncs = [Sync(new if s.column == old else s.column, s.up) for s in shape.syncs]


def _add(shape: TableShape, spec: Mapping) -> None:
    shape.hidden.append(spec["column"])
    if spec.get("up"):
        shape.syncs.append(Sync(spec["column"], spec["up"]))


_APPLY = {RENAME_COLUMN: _rename, ADD_COLUMN: _add}


def compose(legacy_columns: Iterable[str], specs: Iterable[Mapping]) -> TableShape:
    """Replay operation specs, in order, over the legacy columns of one table."""
    columns = list(legacy_columns)
    shape = TableShape(legacy_columns=columns, mapping={c: c for c in columns})
    for spec in specs:
        _APPLY[spec["kind"]](shape, spec)
    return shape


def current_name(column: str, later_specs: Iterable[Mapping]) -> str:
    """The physical name ``column`` has after the renames that came later in the rollout."""
    for spec in later_specs:
        if spec["kind"] == RENAME_COLUMN and spec["old"] == column:
            column = spec["new"]
    return column
