"""``compat status`` as data: what is pending, where each table stands, what is left over."""

from __future__ import annotations

from datetime import datetime

from django.db import connections
from django.utils import timezone

from . import (
    backfill,
    catalog,
    conf,
    constraints,
    lifecycle,
    live,
    naming,
    pacing,
    sql,
    triggers,
    views,
)
from .mapping import RENAME_COLUMN, RENAME_TABLE


def drift(connection, rollout, touched) -> list[str]:
    """Generated objects whose definition no longer matches what the state renders."""
    legacy_schema = naming.legacy_schema(rollout.legacy_colour)
    plan = lifecycle.plan_of(touched)
    problems = []
    expected = views.expected_comment(
        legacy_schema,
        touched.legacy_name,
        touched.schema,
        touched.table,
        plan,
        lifecycle.security_invoker(
            connection, catalog.grants(connection, touched.schema, touched.table)
        ),
    )
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_catalog.obj_description(c.oid, 'pg_class') FROM pg_catalog.pg_class c "
            "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = %s AND c.relname = %s",
            [legacy_schema, touched.legacy_name],
        )
        row = cursor.fetchone()
        if row is None or row[0] != expected:
            problems.append(f"view {legacy_schema}.{touched.legacy_name} is missing or was changed")
        wanted = triggers.triggers_for(
            touched.schema, touched.table, legacy_schema, plan, touched.legacy_name
        )
        for trigger in wanted:
            cursor.execute(
                "SELECT pg_catalog.obj_description(t.oid, 'pg_trigger') "
                "FROM pg_catalog.pg_trigger t WHERE t.tgname = %s",
                [trigger.name],
            )
            row = cursor.fetchone()
            if row is None or row[0] != trigger.compile().hash:
                problems.append(f"trigger {trigger.name} is missing or was changed")
    return problems


def privilege_problems(connection, rollout, touched) -> list[str]:
    """How the legacy view's privileges differ from the table's, each with the
    statement that mends it (run as the role that ran ``migrate``).

    A role granted on the table after the view was built cannot use the view, and
    one that may not use the legacy schema is sent to the base table by Postgres:
    its legacy reads see the new shape (its writes fail). A REVOKE on the table
    does not reach a view that reads the table with its owner's rights.
    """
    gaps = lifecycle.privilege_gaps(connection, rollout, touched)
    legacy_schema = naming.legacy_schema(rollout.legacy_colour)
    view = sql.ident(legacy_schema, touched.legacy_name)
    where = f"{touched.schema}.{touched.table}"
    return [
        *(
            f"{role or 'PUBLIC'} holds privileges on {where} but may not use schema "
            f"{legacy_schema}: {views.render_schema(legacy_schema, {role})[-1]};"
            for role in gaps.without_usage
        ),
        *(
            f"{g.grantee or 'PUBLIC'} holds {g.privilege} on {where} but not on its legacy "
            f"view: {views.render_grant(view, g)};"
            for g in gaps.missing
        ),
        *(
            f"{g.grantee or 'PUBLIC'} holds {g.privilege} on the legacy view of {where} but "
            f"no longer on the table: {views.render_revoke(view, g)};"
            for g in gaps.excess
        ),
    ]


def pending_builds(connection, rollout) -> list[str]:
    waiting = []
    for operation, _ in lifecycle.finishing(rollout):
        touched = operation.touched
        for item in operation.spec.get("objects", []):
            temp = constraints.temporary_name(touched.table, item)
            state = catalog.object_state(connection, touched.schema, touched.table, temp)
            if state != "valid":
                left = "an interrupted build left it invalid" if state else "not built yet"
                waiting.append(f"{item['kind']} {item['name']} on {touched.table} ({left})")
    return waiting


def backfill_progress(connection, rollout) -> list[dict]:
    """Each unfinished backfill: its column, how far its walk of the table got (rows at
    or below its checkpoint, however many runs walked them), how many rows it filled,
    and the ETA at the pace of the run that saved the last checkpoint.

    A walk fills only the rows whose new column is still NULL; the rows either colour
    wrote since the expand already hold a value, so it may fill fewer than it walks.
    The pace counts that run's pauses and throttling, which the rest of the walk will
    meet too; a run that died long ago says so in ``last_batch_at``.
    """
    found = []
    for operation, names in lifecycle.finishing(rollout):
        if operation.backfill_status != "pending":
            continue
        touched = operation.touched
        walking = (operation.spec.get("rewalk") or [None])[0]  # a partition attached since
        schema, table = walking or (touched.schema, touched.table)
        key = backfill.key_column(touched, lifecycle.plan_of(touched))
        with connection.cursor() as cursor:
            done, total = backfill.position(
                cursor, schema, table, key, operation.backfill_checkpoint
            )
        started, saved = operation.backfill_started_at, operation.backfill_saved_at
        took = (saved - started).total_seconds() if started and saved else 0.0
        rate = operation.backfill_walked / took if took > 0 else None
        found.append(
            {
                "table": touched.table,
                "column": names["column"],
                "partition": None if table == touched.table else f"{schema}.{table}",
                "rows_done": done,
                "rows_left": total - done,
                "rows_filled": operation.backfill_rows,
                "rows_per_second": rate,
                "eta_seconds": (total - done) / rate if rate else None,
                "last_batch_at": saved.isoformat() if saved else None,
            }
        )
    return found


def backfill_text(item: dict) -> str:
    where = f" (partition {item['partition']})" if item["partition"] else ""
    done, left = item["rows_done"], item["rows_left"]
    text = (
        f"backfill of {item['table']}.{item['column']}{where}: {done} of {done + left} rows "
        f"walked, {left} left; {item['rows_filled']} rows filled so far"
    )
    if item["rows_per_second"] is None:
        return f"{text}; no batch has run yet, so no ETA"
    ago = timezone.now() - datetime.fromisoformat(item["last_batch_at"])
    return (
        f"{text}; ETA {pacing.duration_text(item['eta_seconds'])} at "
        f"{item['rows_per_second']:,.0f} rows/s (last batch "
        f"{pacing.duration_text(ago.total_seconds())} ago)"
    )


def pending_backfills(connection, rollout) -> list[str]:
    return [backfill_text(item) for item in backfill_progress(connection, rollout)]


def pending_work(connection, rollout) -> list[str]:
    """What the rollout's deferred work (``lifecycle.run_deferred``) has left to do."""
    return [*pending_backfills(connection, rollout), *pending_builds(connection, rollout)]


PENDING_WORK = (
    "Pending work (`manage.py compat backfill` finishes it; `migrate` and `compat complete` "
    "run it too):"
)


def report(alias: str) -> dict:
    connection = connections[alias]
    rollout = lifecycle.pending(alias)
    result: dict = {
        "rollout": None,
        "leftovers": catalog.leftovers(connection),
        "live": live.summary(alias),
    }
    if rollout is None:
        return result
    backfills = backfill_progress(connection, rollout)
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
            {
                "schema": t.schema,
                "table": t.table,
                "legacy_table": t.legacy_name,
                "mapping": t.mapping,
                "key": t.key_column,
                "drift": drift(connection, rollout, t),
                "privileges": privilege_problems(connection, rollout, t),
            }
            for t in rollout.tables.order_by("pk")
        ],
        "pending_builds": pending_builds(connection, rollout),
        "backfills": backfills,
        "pending_work": [*map(backfill_text, backfills), *pending_builds(connection, rollout)],
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


def live_text(entry: dict | None) -> str:
    """Which colour is live and which one the next release must run as."""
    if entry is None:
        return (
            "No live colour is recorded yet: the next release may run as any of "
            f"{', '.join(conf.colours())}; the migrate that applies its migrations records it."
        )
    return (
        f"{entry['colour']} is live ({entry['why']}): the next release must run as "
        f"{' or '.join(entry['next_colours'])}."
    )


def render_text(data: dict) -> str:
    rollout = data["rollout"]
    lines = []
    if rollout is None:
        lines += ["No rollout is pending.", live_text(data["live"])]
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
            name = table["table"]
            if table["legacy_table"] != name:
                name = f"{name} (legacy name {table['legacy_table']})"
            lines.append(f"  {table['schema']}.{name}: {pairs}")
        lines.append("Operations:")
        for op in rollout["operations"]:
            spec = op["spec"]
            detail = (
                f"{spec['old']} -> {spec['new']}"
                if spec["kind"] in (RENAME_COLUMN, RENAME_TABLE)
                else spec.get("column", "")
            )
            filled = "rows filled so far" if op["backfill"] == "pending" else "rows filled"
            backfill = (
                f", backfill {op['backfill']} ({op['backfill_rows']} {filled})"
                if op["backfill"]
                else ""
            )
            lines.append(
                f"  {op['seq']}. {op['migration']}: {spec['kind']} {op['table']} {detail}{backfill}"
            )
        if rollout["pending_work"]:
            lines.append(PENDING_WORK)
            lines += [f"  {item}" for item in rollout["pending_work"]]
        for table in rollout["tables"]:
            for problem in table["privileges"]:
                lines.append(f"PRIVILEGES: {problem}")
            for problem in table["drift"]:
                lines.append(
                    f"DRIFT: {problem} since compat_views made it. Find out who changed it; "
                    "`compat rollback` then `migrate` regenerates everything."
                )
    leftovers = {k: v for k, v in data["leftovers"].items() if v}
    if leftovers and rollout is None:
        lines.append(f"Leftover compat objects with no pending rollout: {leftovers}")
    return "\n".join(lines)
