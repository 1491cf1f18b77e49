"""``compat status`` as data: what is pending, where each table stands, what is left over."""

from __future__ import annotations

from django.db import connections

from . import catalog, lifecycle, naming


def report(alias: str) -> dict:
    connection = connections[alias]
    rollout = lifecycle.pending(alias)
    result: dict = {"rollout": None, "leftovers": catalog.leftovers(connection)}
    if rollout is None:
        return result
    result["rollout"] = {
        "id": rollout.pk,
        "legacy_colour": rollout.legacy_colour,
        "new_colour": rollout.new_colour,
        "legacy_schema": naming.legacy_schema(rollout.legacy_colour),
        "started_at": rollout.started_at.isoformat(),
        "legacy_sessions": len(
            catalog.sessions(connection, lifecycle.colour_tag(rollout.legacy_colour))
        ),
        "new_sessions": len(catalog.sessions(connection, lifecycle.colour_tag(rollout.new_colour))),
        "tables": [
            {"schema": t.schema, "table": t.table, "mapping": t.mapping, "key": t.key_column}
            for t in rollout.tables.order_by("pk")
        ],
        "operations": [
            {
                "seq": op.seq,
                "migration": f"{op.app_label}.{op.migration}",
                "table": op.touched.table,
                "spec": op.spec,
                "backfill": op.backfill_status or None,
                "backfill_rows": op.backfill_rows,
            }
            for op in rollout.operations.order_by("seq").select_related("touched")
        ],
    }
    return result


def render_text(data: dict) -> str:
    rollout = data["rollout"]
    lines = []
    if rollout is None:
        lines.append("No rollout is pending.")
    else:
        lines += [
            f"Rollout {rollout['id']}: legacy colour {rollout['legacy_colour']} "
            f"(schema {rollout['legacy_schema']}), new colour {rollout['new_colour']}, "
            f"started {rollout['started_at']}",
            f"Connected sessions: {rollout['legacy_sessions']} legacy, "
            f"{rollout['new_sessions']} new",
            "Tables (legacy column -> physical column):",
        ]
        for table in rollout["tables"]:
            pairs = ", ".join(
                legacy if legacy == phys else f"{legacy} -> {phys}"
                for legacy, phys in table["mapping"].items()
            )
            lines.append(f"  {table['schema']}.{table['table']}: {pairs}")
        lines.append("Operations:")
        for op in rollout["operations"]:
            spec = op["spec"]
            detail = (
                f"{spec['old']} -> {spec['new']}"
                if spec["kind"] == "rename_column"
                else spec.get("column", "")
            )
            backfill = (
                f", backfill {op['backfill']} ({op['backfill_rows']} rows)"
                if op["backfill"]
                else ""
            )
            lines.append(
                f"  {op['seq']}. {op['migration']}: {spec['kind']} {op['table']} {detail}{backfill}"
            )
        if any(op["backfill"] == "pending" for op in rollout["operations"]):
            lines.append(
                "Pending backfill: run `manage.py compat backfill` (complete runs it too)."
            )
    leftovers = {k: v for k, v in data["leftovers"].items() if v}
    if leftovers and rollout is None:
        lines.append(f"Leftover compat objects with no pending rollout: {leftovers}")
    return "\n".join(lines)
