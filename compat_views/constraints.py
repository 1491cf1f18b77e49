"""Indexes and constraints a new column needs, built without long locks.

What to build is read from Django itself: the plain operation (AddField /
AlterField) runs in ``collect_sql`` mode, and its CREATE INDEX / UNIQUE / FOREIGN
KEY statements give the objects and the exact names Django would use, so that a
completed rollout matches a plain-Django database. For an AlterField, the
indexes and constraints already on the old column that Django would keep are
carried over too: single-column ones from their description, and the rest (several
columns, an expression or a predicate that reads the column) from their live
definition at build time, with the aside column's name replaced by the new column's.

Each object is built under a temporary ``_compat_`` name after the migration
commits (``CREATE [UNIQUE] INDEX CONCURRENTLY``; ``FOREIGN KEY … NOT VALID`` then
``VALIDATE``) and gets its final name at ``complete`` (``ADD CONSTRAINT … USING
INDEX``, ``RENAME``), once the aside column that may still hold that name is gone.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Mapping

from . import catalog
from .errors import InvalidOperation
from .naming import MAX_IDENTIFIER_BYTES, OBJECT_PREFIX, digest
from .sql import ident

INDEX, UNIQUE, FOREIGN_KEY, CHECK = "index", "unique", "foreign_key", "check"
NAMED_NOT_NULL_SINCE = 180000  # PostgreSQL 18 records NOT NULL in pg_constraint, named

_CREATE_INDEX = re.compile(r'^CREATE INDEX "(?P<name>[^"]+)" ON "[^"]+"(?P<rest>.*?);?$', re.S)
_ADD_UNIQUE = re.compile(r'ADD CONSTRAINT "(?P<name>[^"]+)" UNIQUE \((?P<columns>[^)]*)\)')
_ADD_FK = re.compile(
    r'(?:ADD )?CONSTRAINT "(?P<name>[^"]+)" (?:FOREIGN KEY \([^)]*\) )?'
    r"REFERENCES (?P<ref>\"[^\"]+\" ?\(\"[^\"]+\"\))"
)
_INLINE_UNIQUE = re.compile(r'ADD COLUMN "(?P<column>[^"]+)" [^;]* UNIQUE\b')
_ADD_CHECK = re.compile(r'ADD CONSTRAINT "(?P<name>[^"]+)" CHECK (?P<check>\(.*\));?$', re.S)
_INLINE_CHECK = re.compile(r'ADD COLUMN "[^"]+" [^;]*? CHECK (?P<check>\(.*?\))(?: |;|$)', re.S)
_DROP = re.compile(r'DROP (?:CONSTRAINT|INDEX)(?: IF EXISTS)? "(?P<name>[^"]+)"')
_INDEX_DEF = re.compile(r"^CREATE (?:UNIQUE )?INDEX \S+ ON \S+(?P<rest>.*)$", re.S)
# A single-column index: optional "USING method", "(column opclass…)", then the rest.
_INDEX_PARTS = re.compile(
    r'^\s*(?P<method>USING \w+)?\s*\(\s*(?:"[^"]+"|[^\s)]+)(?P<opclass>[^)]*)\)(?P<tail>.*)$', re.S
)


def _index(name: str, definition_tail: str) -> dict:
    """An index described without its column's name, which may change before complete."""
    parts = _INDEX_PARTS.match(definition_tail)
    return {
        "kind": INDEX,
        "name": name,
        "method": parts["method"] or "",
        "opclass": parts["opclass"].strip(),
        "tail": parts["tail"].strip().rstrip(";"),
    }


def pg_object_name(table: str, column: str, label: str) -> str:
    """The name Postgres gives an inline constraint (its ``makeObjectName``)."""
    first, second = table.encode(), column.encode()
    room = MAX_IDENTIFIER_BYTES - 1 - len(label) - 2
    while len(first) + len(second) > room:
        if len(first) > len(second):
            first = first[:-1]
        else:
            second = second[:-1]
    clip = lambda raw: raw.decode("utf-8", "ignore")  # noqa: E731  (never split a character)
    return f"{clip(first)}_{clip(second)}_{label}"


def not_null_name(connection, schema: str, table: str, spec: Mapping, names: Mapping) -> str | None:
    """The name a plain migration gives the NOT NULL that ``complete`` sets (None before
    PostgreSQL 18, where NOT NULL has no name, and for a spec recorded without one).

    A rename later in the rollout may have changed the name PostgreSQL would pick now.
    The plain AlterField keeps the old column's constraint, which the aside column holds
    until this operation drops it; otherwise PostgreSQL named a new one after the table
    and column of the operation's time (``not_null_named_after`` in the spec), numbered
    clear of the names the schema has.
    """
    named_after = spec.get("not_null_named_after")
    if named_after is None or catalog.server_version(connection) < NAMED_NOT_NULL_SINCE:
        return None
    if "aside" in names and (
        kept := catalog.not_null_constraint(connection, schema, table, names["aside"])
    ):
        return kept
    taken = catalog.constraint_names(connection, schema)
    labels = (f"not_null{n or ''}" for n in itertools.count())
    return next(
        name
        for name in (pg_object_name(*named_after, label) for label in labels)
        if name not in taken
    )


def temporary_name(table: str, item: Mapping) -> str:
    """Where an object is built until complete: named when the operation recorded it
    (``temp``), so that a rename of the table later in the rollout does not move it."""
    return item.get("temp") or f"{OBJECT_PREFIX}ix_{digest(table, item['name'])}"


def with_temporary_names(table: str, items: list[dict]) -> list[dict]:
    return [{**item, "temp": temporary_name(table, item)} for item in items]


def from_django_sql(table: str, column: str, statements: list[str]) -> tuple[list[dict], set[str]]:
    """Objects the plain operation creates on ``column``, and the names it drops."""
    objects, dropped = [], set()
    for statement in statements:
        dropped.update(m["name"] for m in _DROP.finditer(statement))
        if match := _CREATE_INDEX.match(statement.strip()):
            objects.append(_index(match["name"], match["rest"]))
            continue
        if match := _ADD_UNIQUE.search(statement):
            objects.append({"kind": UNIQUE, "name": match["name"]})
        if match := _INLINE_UNIQUE.search(statement):
            objects.append({"kind": UNIQUE, "name": pg_object_name(table, column, "key")})
        if match := _ADD_CHECK.search(statement):
            objects.append({"kind": CHECK, "name": match["name"], "check": match["check"]})
        if match := _INLINE_CHECK.search(statement):
            name = pg_object_name(table, column, "check")
            objects.append({"kind": CHECK, "name": name, "check": match["check"]})
        if (match := _ADD_FK.search(statement)) and "REFERENCES" in statement:
            objects.append({"kind": FOREIGN_KEY, "name": match["name"], "references": match["ref"]})
    return objects, dropped


def existing(connection, schema: str, table: str, column: str) -> list[dict]:
    """Indexes and constraints on ``column`` (what an AlterField keeps).

    Objects that a type change can't be carried through are refused here, before any
    DDL: a primary key, an exclusion constraint, a foreign key of several columns, and
    foreign keys pointing at the column.
    """
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT con.conname, con.contype, pg_catalog.pg_get_constraintdef(con.oid)
            FROM pg_catalog.pg_constraint con
            JOIN pg_catalog.pg_class c ON c.oid = con.conrelid
            JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
            JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attname = %s
            WHERE n.nspname = %s AND c.relname = %s AND con.conkey = ARRAY[a.attnum]
              AND con.contype IN ('u', 'f', 'c')
            """,
            [column, schema, table],
        )
        constraints = cursor.fetchall()
        cursor.execute(
            """
            SELECT ic.relname, pg_catalog.pg_get_indexdef(i.indexrelid)
            FROM pg_catalog.pg_index i
            JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid
            JOIN pg_catalog.pg_class c ON c.oid = i.indrelid
            JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
            JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attname = %s
            WHERE n.nspname = %s AND c.relname = %s AND i.indnatts = 1
              AND i.indkey[0] = a.attnum AND NOT i.indisprimary
              AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_constraint k
                              WHERE k.conindid = i.indexrelid)
            """,
            [column, schema, table],
        )
        indexes = cursor.fetchall()
        cursor.execute(
            """
            SELECT k.conname FROM pg_catalog.pg_constraint k
            JOIN pg_catalog.pg_class c ON c.oid = k.confrelid
            JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
            JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attname = %s
            WHERE n.nspname = %s AND c.relname = %s AND a.attnum = ANY(k.confkey)
            """,
            [column, schema, table],
        )
        incoming = [row[0] for row in cursor.fetchall()]
        cursor.execute(_COMPOSITE, [column, schema, table, column, schema, table])
        composite = cursor.fetchall()
    if incoming:
        raise InvalidOperation(
            f"Column {table}.{column} is referenced by foreign keys {incoming}; changing it "
            "with AlterCompatColumn would detach them. Change it in a plain migration."
        )
    refused = sorted(name for name, kind in composite if kind not in _CARRIED)
    if refused:
        raise InvalidOperation(
            f"Column {table}.{column} is part of {refused} (a primary key, an exclusion "
            "constraint or a foreign key of several columns), which AlterCompatColumn cannot "
            "carry over to the new column. Change it in a plain migration; nothing was changed."
        )
    objects = [{"kind": _CARRIED[kind], "name": name, "carried": True} for name, kind in composite]
    for name, kind, definition in constraints:
        if kind == "u":
            objects.append({"kind": UNIQUE, "name": name})
        elif kind == "c":
            objects.append({"kind": CHECK, "name": name, "check": definition[len("CHECK ") :]})
        else:
            ref = re.search(r"REFERENCES (\S+?\(\S+?\))", definition)
            objects.append({"kind": FOREIGN_KEY, "name": name, "references": ref[1]})
    for name, definition in indexes:
        objects.append(_index(name, _INDEX_DEF.match(definition)["rest"]))
    return objects


# Objects on a column other than the single-column ones ``existing`` describes: every
# constraint whose columns include it, and every other index that reads it (pg_depend
# records the columns of an index's expressions and predicate too). Kinds: the
# constraint's contype, or "i" for an index that backs no constraint.
_COMPOSITE = """
    SELECT k.conname, k.contype
    FROM pg_catalog.pg_constraint k
    JOIN pg_catalog.pg_class c ON c.oid = k.conrelid
    JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
    JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attname = %s
    WHERE n.nspname = %s AND c.relname = %s AND a.attnum = ANY(k.conkey)
      AND (k.contype IN ('p', 'x') OR k.conkey <> ARRAY[a.attnum])
    UNION ALL
    SELECT ic.relname, 'i'
    FROM pg_catalog.pg_index i
    JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid
    JOIN pg_catalog.pg_class c ON c.oid = i.indrelid
    JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
    JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attname = %s
    WHERE n.nspname = %s AND c.relname = %s
      AND NOT (i.indnatts = 1 AND i.indkey[0] = a.attnum)
      AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_constraint k WHERE k.conindid = i.indexrelid)
      AND EXISTS (SELECT 1 FROM pg_catalog.pg_depend d
                  WHERE d.classid = 'pg_catalog.pg_class'::regclass AND d.objid = i.indexrelid
                    AND d.refobjid = c.oid AND d.refobjsubid = a.attnum)
"""
_CARRIED = {"u": UNIQUE, "c": CHECK, "i": INDEX}


def carry(connection, schema: str, table: str, item: Mapping, aside: str, column: str) -> dict:
    """A carried object's build details from its live definition on the aside column.

    The old object keeps its name and stays on the aside column until ``complete``
    drops that column; its definition, read now, names the columns as they are now,
    so a rename of another column earlier in the rollout is already in it. Returns
    the item with ``check`` (a CHECK) or ``using`` (an index) filled in, or None when
    the old object is gone (a later migration dropped it).
    """
    with connection.cursor() as cursor:
        if item["kind"] == CHECK:
            cursor.execute(
                "SELECT pg_catalog.pg_get_constraintdef(k.oid) FROM pg_catalog.pg_constraint k "
                "WHERE k.conrelid = %s::regclass AND k.conname = %s",
                [ident(schema, table), item["name"]],
            )
        else:
            cursor.execute(
                "SELECT pg_catalog.pg_get_indexdef(i.indexrelid), "
                "pg_catalog.quote_ident(ic.relname) FROM pg_catalog.pg_index i "
                "JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid "
                "WHERE i.indrelid = %s::regclass AND ic.relname = %s",
                [ident(schema, table), item["name"]],
            )
        row = cursor.fetchone()
    if row is None:
        return None
    renamed = re.sub(
        rf'(?<![\w$"]){re.escape(aside)}(?![\w$"])|"{re.escape(aside)}"', ident(column), row[0]
    )
    if item["kind"] == CHECK:
        return {**item, "check": renamed.removeprefix("CHECK ").removesuffix(" NOT VALID")}
    # "CREATE [UNIQUE] INDEX name ON [ONLY] schema.table USING …": keep from USING on.
    using = renamed.partition(f" INDEX {row[1]} ON ")[2]
    return {**item, "using": using[using.index(" USING ") + 1 :]}


def build(schema: str, table: str, column: str, item: Mapping) -> list[str]:
    """Statements, each its own transaction, that build one object under its temporary name."""
    temp = ident(temporary_name(table, item))
    base = ident(schema, table)
    if item["kind"] in (FOREIGN_KEY, CHECK):
        body = (
            f"CHECK {item['check']}"
            if item["kind"] == CHECK
            else f"FOREIGN KEY ({ident(column)}) REFERENCES {item['references']} "
            "DEFERRABLE INITIALLY DEFERRED"
        )
        return [
            f"ALTER TABLE {base} ADD CONSTRAINT {temp} {body} NOT VALID",
            f"ALTER TABLE {base} VALIDATE CONSTRAINT {temp}",
        ]
    unique = "UNIQUE " if item["kind"] == UNIQUE else ""
    return [f"CREATE {unique}INDEX CONCURRENTLY {temp} ON {base} {_definition(column, item)}"]


def _definition(column: str, item: Mapping) -> str:
    """An index's method, key and predicate: everything after ``ON table``."""
    using = item.get("using")
    if using is None:
        opclass = f" {item['opclass']}" if item.get("opclass") else ""
        using = f"{item.get('method', '')} ({ident(column)}{opclass}) {item.get('tail', '')}"
    return using.strip()


# On a partitioned table. PostgreSQL builds no index CONCURRENTLY there, so the parent's
# index is made ON ONLY the parent (empty and INVALID, so instant), each partition's is
# built CONCURRENTLY and attached to it, and the parent's turns valid once every
# partition's is attached. A partition created meanwhile gets its index from PostgreSQL.


def refuse_on_partitioned(table: str, objects: list[dict], what: str) -> None:
    """Objects a partitioned table can't get during a rollout, refused before any DDL."""
    unique = sorted(item["name"] for item in objects if item["kind"] == UNIQUE)
    if unique:
        raise InvalidOperation(
            f"{what}: {table!r} is a partitioned table, where PostgreSQL accepts a unique "
            f"constraint only over the partition key as well, so a plain AddField fails too "
            f"({unique}). Drop unique=True (a constraint over this column and the partition key "
            "can go in a plain migration); nothing was changed."
        )
    foreign = sorted(item["name"] for item in objects if item["kind"] == FOREIGN_KEY)
    if foreign:
        raise InvalidOperation(
            f"{what}: {table!r} is a partitioned table, where PostgreSQL cannot add a foreign "
            f"key NOT VALID, only validate it at once under a lock that blocks writes "
            f"({foreign}). Pass db_constraint=False and add the constraint in a plain migration "
            "when writes may wait; nothing was changed."
        )


def partition_index_name(index: str, schema: str, partition: str) -> str:
    """Where a partition's part of the index ``index`` is built until ``complete``."""
    return f"{OBJECT_PREFIX}ix_{digest(index, schema, partition)}"


def index_on(schema: str, table: str, name: str, column: str, item: Mapping, parent: bool) -> str:
    """One part of an index on a partitioned table: ON ONLY a ``parent``, else CONCURRENTLY."""
    how = f"IF NOT EXISTS {ident(name)} ON ONLY" if parent else f"CONCURRENTLY {ident(name)} ON"
    return f"CREATE INDEX {how} {ident(schema, table)} {_definition(column, item)}"


def attach_index(schema: str, parent: str, partition_schema: str, index: str) -> str:
    """Attaching twice is a no-op in PostgreSQL, so a resumed build may repeat it."""
    return f"ALTER INDEX {ident(schema, parent)} ATTACH PARTITION {ident(partition_schema, index)}"


def partition_index_renames(connection, schema: str, spec: Mapping) -> list[str]:
    """At ``complete``, once the parent's index has its final name: the partitions' get the
    names PostgreSQL gives the indexes it makes on partitions itself, as a plain ``CREATE
    INDEX`` on the parent leaves them (``<partition>_<columns>_idx``, numbered if taken)."""
    statements, taken = [], set()
    for item in spec.get("objects", []):
        if item["kind"] != INDEX:
            continue
        for part in catalog.index_partitions(connection, schema, item["name"]):
            if not part.name.startswith(OBJECT_PREFIX):
                continue  # made by PostgreSQL for a partition created during the rollout
            name, number = pg_object_name(part.table, part.columns, "idx"), 0
            while (part.schema, name) in taken or catalog.relation_exists(
                connection, part.schema, name
            ):
                number += 1
                name = pg_object_name(part.table, part.columns, f"idx{number}")
            taken.add((part.schema, name))
            statements.append(
                f"ALTER INDEX {ident(part.schema, part.name)} RENAME TO {ident(name)}"
            )
    return statements


def attach(schema: str, table: str, item: Mapping) -> str:
    """The statement in ``complete``'s transaction that gives the object its final name."""
    temp = ident(temporary_name(table, item))
    base, final = ident(schema, table), ident(item["name"])
    if item["kind"] == UNIQUE:
        return f"ALTER TABLE {base} ADD CONSTRAINT {final} UNIQUE USING INDEX {temp}"
    if item["kind"] in (FOREIGN_KEY, CHECK):
        return f"ALTER TABLE {base} RENAME CONSTRAINT {temp} TO {final}"
    return f"ALTER INDEX {ident(schema, temporary_name(table, item))} RENAME TO {final}"


_DROP_IN = re.compile(r'ALTER TABLE "(?P<table>[^"]+)" DROP CONSTRAINT "(?P<name>[^"]+)"')
_ADD_FK_IN = re.compile(
    r'^ALTER TABLE "(?P<table>[^"]+)" ADD CONSTRAINT "(?P<name>[^"]+)" FOREIGN KEY'
)


def renamed_foreign_keys(statements: list[str]) -> list[list[str]]:
    """[table, old name, new name] of each foreign key Django drops and re-adds in
    ``statements`` (a plain RenameModel's), paired in the order it emits them."""
    dropped: dict[str, list[str]] = {}
    renamed = []
    for statement in statements:
        if match := _DROP_IN.search(statement):
            dropped.setdefault(match["table"], []).append(match["name"])
        elif (match := _ADD_FK_IN.match(statement.strip())) and dropped.get(match["table"]):
            old = dropped[match["table"]].pop(0)
            if old != match["name"]:
                renamed.append([match["table"], old, match["name"]])
    return renamed
