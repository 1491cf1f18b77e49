"""Read-only questions to the Postgres catalog: tables, columns, keys, partitions, grants,
sessions, what a schema holds."""

from __future__ import annotations

from dataclasses import dataclass

from .errors import InvalidOperation
from .naming import SCHEMA_PREFIX
from .sql import ident


@dataclass(frozen=True)
class Column:
    """A column as the catalog has it. A stored generated column has no default: its
    expression (``generated``) sits where a default would, and nobody may write it."""

    name: str
    type: str
    not_null: bool
    default: str | None
    identity: bool
    generated: str | None = None


# pgtrigger's per-row ignore check, created by its install SQL (``compiler.UpsertTriggerSql``).
PGTRIGGER_IGNORE = "_pgtrigger_should_ignore"

# LIKE pattern of every legacy schema (``_`` is a LIKE wildcard, hence the escape).
_LEGACY_SCHEMAS = SCHEMA_PREFIX.replace("_", r"\_") + "%"


def _rows(connection, query: str, params=()) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(query, params)
        return cursor.fetchall()


def server_version(connection) -> int:
    return int(_rows(connection, "SELECT pg_catalog.current_setting('server_version_num')")[0][0])


def database_create_privilege(connection) -> tuple[str, str, bool]:
    """(current role, database, whether the role may create schemas in it)."""
    return _rows(
        connection,
        "SELECT current_user, pg_catalog.current_database(), "
        "pg_catalog.has_database_privilege(pg_catalog.current_database(), 'CREATE')",
    )[0]


def first_base_schema(connection) -> str:
    """The first schema of the search_path that is not a legacy schema."""
    rows = _rows(
        connection,
        "SELECT s FROM pg_catalog.unnest(pg_catalog.current_schemas(false)) WITH ORDINALITY "
        "AS t(s, pos) WHERE s NOT LIKE %s ORDER BY pos LIMIT 1",
        [_LEGACY_SCHEMAS],
    )
    return rows[0][0] if rows else "public"


def creation_schema(connection) -> tuple[str | None, str]:
    """Where this session creates what it names without a schema (``current_schema()``:
    the first schema of its search_path that exists and that it may use; None when there
    is none), and its search_path setting."""
    return _rows(
        connection,
        "SELECT pg_catalog.current_schema(), pg_catalog.current_setting('search_path')",
    )[0]


def base_schema(connection, table: str) -> str:
    """The schema holding ``table``, read from the connection's search_path."""
    found = base_tables(connection, [table])
    if not found:
        raise InvalidOperation(
            f"Table {table!r} was not found in the search_path of this connection. "
            "Check the model's db_table and that its migrations have been applied."
        )
    return found[0][0]


def base_tables(connection, names: list[str]) -> list[tuple[str, str]]:
    """(schema, table) of each of ``names`` that exists, first in the search_path.

    Legacy schemas are skipped: they hold views of the table, never the table.
    """
    return _rows(
        connection,
        """
        SELECT DISTINCT ON (c.relname) n.nspname, c.relname
        FROM pg_catalog.unnest(pg_catalog.current_schemas(false)) WITH ORDINALITY AS s(nspname, pos)
        JOIN pg_catalog.pg_namespace n ON n.nspname = s.nspname
        JOIN pg_catalog.pg_class c ON c.relnamespace = n.oid
        WHERE c.relname = ANY(%s) AND c.relkind IN ('r', 'p') AND n.nspname NOT LIKE %s
        ORDER BY c.relname, s.pos
        """,
        [list(names), _LEGACY_SCHEMAS],
    )


def foreign_keys(connection, tables: list[tuple[str, str]]) -> list[tuple[tuple, tuple]]:
    """(referencing, referenced) (schema, table) pairs of the foreign keys between two
    different tables, at least one of them among ``tables``."""
    rows = _rows(
        connection,
        """
        SELECT DISTINCT rn.nspname, r.relname, fn.nspname, f.relname
        FROM pg_catalog.pg_constraint k
        JOIN pg_catalog.pg_class r ON r.oid = k.conrelid
        JOIN pg_catalog.pg_namespace rn ON rn.oid = r.relnamespace
        JOIN pg_catalog.pg_class f ON f.oid = k.confrelid
        JOIN pg_catalog.pg_namespace fn ON fn.oid = f.relnamespace
        WHERE k.contype = 'f' AND k.conparentid = 0 AND k.conrelid <> k.confrelid
          AND EXISTS (
            SELECT 1
            FROM ROWS FROM (pg_catalog.unnest(%s::text[]), pg_catalog.unnest(%s::text[]))
                AS t(nspname, relname)
            WHERE (t.nspname, t.relname) IN ((rn.nspname, r.relname), (fn.nspname, f.relname)))
        ORDER BY 1, 2, 3, 4
        """,
        [[schema for schema, _ in tables], [table for _, table in tables]],
    )
    return [((row[0], row[1]), (row[2], row[3])) for row in rows]


def foreign_key_ends(
    connection, schema: str, table: str, columns: list[str] | None = None
) -> list[tuple[str, str]]:
    """The other tables of ``table``'s foreign keys that dropping ``columns`` of it
    drops: the tables they reference; with ``columns`` None (the whole table) also the
    tables whose foreign keys reference it."""
    rows = _rows(
        connection,
        """
        SELECT DISTINCT n.nspname, o.relname
        FROM pg_catalog.pg_constraint k
        JOIN pg_catalog.pg_class t ON t.oid IN (k.conrelid, k.confrelid)
        JOIN pg_catalog.pg_namespace tn ON tn.oid = t.relnamespace
        JOIN pg_catalog.pg_class o
          ON o.oid = CASE WHEN k.conrelid = t.oid THEN k.confrelid ELSE k.conrelid END
        JOIN pg_catalog.pg_namespace n ON n.oid = o.relnamespace
        WHERE k.contype = 'f' AND k.conparentid = 0 AND k.conrelid <> k.confrelid
          AND tn.nspname = %s AND t.relname = %s
          AND CASE WHEN %s::text[] IS NULL THEN true
            ELSE k.conrelid = t.oid AND EXISTS (
              SELECT 1 FROM pg_catalog.pg_attribute a
              WHERE a.attrelid = k.conrelid AND a.attnum = ANY(k.conkey)
                AND a.attname = ANY(%s::text[])) END
        ORDER BY 1, 2
        """,
        [schema, table, columns, columns],
    )
    return [(row[0], row[1]) for row in rows]


def lockable(connection, tables: list[tuple[str, str]]) -> set[tuple[str, str]]:
    """The existing ``tables`` this role may ``LOCK`` in a mode that blocks writers, which
    takes UPDATE, DELETE or TRUNCATE; a foreign key needs only REFERENCES."""
    rows = _rows(
        connection,
        """
        SELECT n.nspname, c.relname
        FROM ROWS FROM (pg_catalog.unnest(%s::text[]), pg_catalog.unnest(%s::text[]))
            AS t(nspname, relname)
        JOIN pg_catalog.pg_namespace n ON n.nspname = t.nspname
        JOIN pg_catalog.pg_class c ON c.relnamespace = n.oid AND c.relname = t.relname
        WHERE pg_catalog.has_table_privilege(c.oid, 'UPDATE, DELETE, TRUNCATE')
        """,
        [[schema for schema, _ in tables], [name for _, name in tables]],
    )
    return {(row[0], row[1]) for row in rows}


def columns(connection, schema: str, table: str) -> list[Column]:
    rows = _rows(
        connection,
        """
        SELECT a.attname, pg_catalog.format_type(a.atttypid, a.atttypmod), a.attnotnull,
               CASE WHEN a.attgenerated = '' THEN pg_catalog.pg_get_expr(d.adbin, d.adrelid) END,
               a.attidentity <> '',
               CASE WHEN a.attgenerated <> '' THEN pg_catalog.pg_get_expr(d.adbin, d.adrelid) END
        FROM pg_catalog.pg_attribute a
        LEFT JOIN pg_catalog.pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
        WHERE a.attrelid = (
            SELECT c.oid FROM pg_catalog.pg_class c
            JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname = %s AND c.relname = %s)
          AND a.attnum > 0 AND NOT a.attisdropped
        ORDER BY a.attnum
        """,
        [schema, table],
    )
    return [Column(*row) for row in rows]


def column_comment(connection, schema: str, table: str, column: str) -> str | None:
    rows = _rows(
        connection,
        """
        SELECT pg_catalog.col_description(c.oid, a.attnum)
        FROM pg_catalog.pg_class c
        JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
        JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid
        WHERE n.nspname = %s AND c.relname = %s AND a.attname = %s
        """,
        [schema, table, column],
    )
    return rows[0][0] if rows else None


def not_null_constraint(connection, schema: str, table: str, column: str) -> str | None:
    """The name of the column's NOT NULL constraint: PostgreSQL 18 records one in
    pg_constraint, named when the column became NOT NULL; older servers have none."""
    rows = _rows(
        connection,
        """
        SELECT k.conname
        FROM pg_catalog.pg_constraint k
        JOIN pg_catalog.pg_class c ON c.oid = k.conrelid
        JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
        JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum = k.conkey[1]
        WHERE n.nspname = %s AND c.relname = %s AND a.attname = %s AND k.contype = 'n'
        """,
        [schema, table, column],
    )
    return rows[0][0] if rows else None


def constraint_names(connection, schema: str) -> set[str]:
    """Every constraint name in the schema: PostgreSQL picks new names clear of them all."""
    rows = _rows(
        connection,
        "SELECT k.conname FROM pg_catalog.pg_constraint k "
        "JOIN pg_catalog.pg_namespace n ON n.oid = k.connamespace WHERE n.nspname = %s",
        [schema],
    )
    return {name for (name,) in rows}


def key_column(connection, schema: str, table: str) -> str | None:
    """A single NOT NULL unique column to walk the table by: the primary key first."""
    rows = _rows(
        connection,
        """
        SELECT a.attname
        FROM pg_catalog.pg_index i
        JOIN pg_catalog.pg_class c ON c.oid = i.indrelid
        JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
        JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum = i.indkey[0]
        WHERE n.nspname = %s AND c.relname = %s AND i.indisunique AND i.indisvalid
          AND i.indnatts = 1 AND i.indpred IS NULL AND i.indexprs IS NULL AND a.attnotnull
        ORDER BY i.indisprimary DESC, a.attnum
        LIMIT 1
        """,
        [schema, table],
    )
    return rows[0][0] if rows else None


def generated_readers(connection, schema: str, table: str, column: str) -> list[str]:
    """The stored generated columns whose expression reads ``column``.

    PostgreSQL cannot drop or retype a column a generation expression reads: the
    expression's pg_attrdef row depends on it (PostgreSQL 15+), or the generated column
    itself does (14).
    """
    rows = _rows(
        connection,
        """
        SELECT DISTINCT g.attname
        FROM pg_catalog.pg_attrdef ad
        JOIN pg_catalog.pg_attribute g ON g.attrelid = ad.adrelid AND g.attnum = ad.adnum
        JOIN pg_catalog.pg_depend d ON d.refobjid = ad.adrelid
         AND ((d.classid = 'pg_catalog.pg_attrdef'::regclass AND d.objid = ad.oid)
           OR (d.classid = 'pg_catalog.pg_class'::regclass AND d.objid = ad.adrelid
               AND d.objsubid = g.attnum))
        JOIN pg_catalog.pg_attribute r ON r.attrelid = ad.adrelid AND r.attnum = d.refobjsubid
        WHERE ad.adrelid = %s::regclass AND g.attgenerated <> '' AND r.attname = %s
          AND r.attnum <> g.attnum
        ORDER BY 1
        """,
        [ident(schema, table), column],
    )
    return [row[0] for row in rows]


@dataclass(frozen=True)
class Partition:
    """One table below a partitioned table, with the table it is a partition of."""

    schema: str
    name: str
    parent_schema: str
    parent: str
    leaf: bool


def partitions(connection, schema: str, table: str) -> list[Partition]:
    """Every partition below ``table``, parents before their partitions; none for a
    table that is not partitioned."""
    rows = _rows(
        connection,
        """
        SELECT n.nspname, c.relname, pn.nspname, p.relname, t.isleaf
        FROM pg_catalog.pg_partition_tree(%s::regclass) t
        JOIN pg_catalog.pg_class c ON c.oid = t.relid
        JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
        JOIN pg_catalog.pg_class p ON p.oid = t.parentrelid
        JOIN pg_catalog.pg_namespace pn ON pn.oid = p.relnamespace
        ORDER BY t.level, 1, 2
        """,
        [ident(schema, table)],
    )
    return [Partition(*row) for row in rows]


def partition_key_columns(connection, schema: str, table: str) -> list[str]:
    """Columns the partition key of ``table`` or of a partition below it reads: PostgreSQL
    refuses to drop them. (A partition key records each column it reads, expressions
    included, as an internal dependency of the column on its table.)"""
    rows = _rows(
        connection,
        """
        SELECT DISTINCT a.attname
        FROM pg_catalog.pg_partitioned_table pt
        JOIN pg_catalog.pg_depend d ON d.classid = 'pg_catalog.pg_class'::regclass
         AND d.objid = pt.partrelid AND d.refobjid = pt.partrelid
         AND d.objsubid > 0 AND d.refobjsubid = 0
        JOIN pg_catalog.pg_attribute a ON a.attrelid = pt.partrelid AND a.attnum = d.objsubid
        WHERE pt.partrelid IN (SELECT relid FROM pg_catalog.pg_partition_tree(%s::regclass))
        ORDER BY 1
        """,
        [ident(schema, table)],
    )
    return [row[0] for row in rows]


@dataclass(frozen=True)
class PartitionIndex:
    """An index attached below a partitioned index; ``columns`` as PostgreSQL names it
    in the indexes it makes itself (column names joined by ``_``, ``expr`` for an
    expression)."""

    schema: str
    table: str
    name: str
    columns: str


def index_partitions(connection, schema: str, index: str) -> list[PartitionIndex]:
    """The indexes attached below the partitioned index ``index``, at every level."""
    rows = _rows(
        connection,
        """
        SELECT n.nspname, c.relname, ic.relname,
               (SELECT pg_catalog.string_agg(coalesce(a.attname, 'expr'), '_' ORDER BY k.pos)
                FROM pg_catalog.unnest(i.indkey::pg_catalog.int2[]) WITH ORDINALITY k(num, pos)
                LEFT JOIN pg_catalog.pg_attribute a
                  ON a.attrelid = i.indrelid AND a.attnum = k.num)
        FROM pg_catalog.pg_partition_tree(pg_catalog.to_regclass(%s)) t
        JOIN pg_catalog.pg_class ic ON ic.oid = t.relid
        JOIN pg_catalog.pg_index i ON i.indexrelid = t.relid
        JOIN pg_catalog.pg_class c ON c.oid = i.indrelid
        JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
        WHERE t.level > 0
        ORDER BY t.level, 1, 2
        """,
        [ident(schema, index)],
    )
    return [PartitionIndex(*row) for row in rows]


@dataclass(frozen=True)
class Grant:
    """One privilege on a relation, or on one of its columns when ``column`` is set;
    ``grantee`` None is PUBLIC."""

    grantee: str | None
    privilege: str
    column: str | None = None
    grantable: bool = False


# Privileges that mean something on a view; the owner gets those it holds on the table.
VIEW_PRIVILEGES = ("SELECT", "INSERT", "UPDATE", "DELETE")


def acl(connection, schema: str, relation: str) -> list[Grant]:
    """The privileges granted on a relation and its columns, the owner's own left out."""
    rows = _rows(
        connection,
        """
        WITH t AS (
            SELECT c.oid, c.relacl, c.relowner FROM pg_catalog.pg_class c
            JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname = %s AND c.relname = %s)
        SELECT r.rolname, acl.privilege_type, NULL::name, acl.is_grantable
        FROM t CROSS JOIN LATERAL pg_catalog.aclexplode(t.relacl) acl
        LEFT JOIN pg_catalog.pg_roles r ON r.oid = acl.grantee
        WHERE acl.grantee <> t.relowner
        UNION
        SELECT r.rolname, acl.privilege_type, a.attname, acl.is_grantable
        FROM t JOIN pg_catalog.pg_attribute a ON a.attrelid = t.oid
        CROSS JOIN LATERAL pg_catalog.aclexplode(a.attacl) acl
        LEFT JOIN pg_catalog.pg_roles r ON r.oid = acl.grantee
        WHERE a.attnum > 0 AND NOT a.attisdropped AND acl.grantee <> t.relowner
        ORDER BY 1, 3 NULLS FIRST, 2
        """,
        [schema, relation],
    )
    return [Grant(*row) for row in rows]


def grants(connection, schema: str, table: str) -> list[Grant]:
    """Every role's privileges on a table: table-level and column-level grants, and
    the owner's own (implicit unless revoked), since the owner is often the app role."""
    owner = _rows(
        connection,
        """
        SELECT r.rolname, p.privilege, NULL::name, true
        FROM pg_catalog.pg_class c
        JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
        JOIN pg_catalog.pg_roles r ON r.oid = c.relowner
        CROSS JOIN pg_catalog.unnest(%s::text[]) AS p(privilege)
        WHERE n.nspname = %s AND c.relname = %s
          AND pg_catalog.has_table_privilege(c.relowner, c.oid, p.privilege)
        """,
        [list(VIEW_PRIVILEGES), schema, table],
    )
    return [*acl(connection, schema, table), *(Grant(*row) for row in owner)]


def schema_users(connection, schema: str) -> set[str | None]:
    """Roles granted USAGE on a schema (None: PUBLIC)."""
    rows = _rows(
        connection,
        """SELECT r.rolname FROM pg_catalog.pg_namespace n
           CROSS JOIN LATERAL pg_catalog.aclexplode(n.nspacl) acl
           LEFT JOIN pg_catalog.pg_roles r ON r.oid = acl.grantee
           WHERE n.nspname = %s AND acl.privilege_type = 'USAGE'""",
        [schema],
    )
    return {row[0] for row in rows}


def column_grants(connection, schema: str, table: str, column: str) -> list[Grant]:
    return [g for g in grants(connection, schema, table) if g.column == column]


def sessions(connection, application_prefix: str) -> list[tuple]:
    """Other backends of this database whose application_name carries a colour tag."""
    return _rows(
        connection,
        """
        SELECT pid, application_name, client_addr::text, backend_start::text, state
        FROM pg_catalog.pg_stat_activity
        WHERE datname = pg_catalog.current_database() AND pid <> pg_catalog.pg_backend_pid()
          AND (application_name = %s OR application_name LIKE %s)
        ORDER BY pid
        """,
        [application_prefix, application_prefix.replace("_", r"\_") + r":%"],
    )


def _relation(connection, schema: str, name: str, field: str):
    """One field of the pg_class row of ``schema.name`` (``c``), or None if there is none."""
    rows = _rows(
        connection,
        f"""SELECT {field} FROM pg_catalog.pg_class c
            JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname = %s AND c.relname = %s""",
        [schema, name],
    )
    return rows[0][0] if rows else None


def relation_exists(connection, schema: str, name: str) -> bool:
    return _relation(connection, schema, name, "true") is not None


def relation_owner(connection, schema: str, name: str) -> str | None:
    return _relation(connection, schema, name, "pg_catalog.pg_get_userbyid(c.relowner)")


def row_security(connection, schema: str, table: str) -> bool:
    """Whether row-level security is enabled on the table."""
    return bool(_relation(connection, schema, table, "c.relrowsecurity"))


def is_partitioned(connection, schema: str, table: str) -> bool:
    return _relation(connection, schema, table, "c.relkind") == "p"


def unused_ignore_functions(connection) -> list[str]:
    """Schemas holding pgtrigger's ``_pgtrigger_should_ignore`` that no other function calls.

    pgtrigger's install SQL, which our sync triggers go through, creates it for the
    wrapper function it installs next to each trigger. Once those wrappers are gone it is
    ours to drop, unless another function (a pgtrigger trigger of the project) calls it.
    """
    return [
        r[0]
        for r in _rows(
            connection,
            """SELECT n.nspname FROM pg_catalog.pg_proc p
               JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
               WHERE p.proname = %s AND NOT EXISTS (
                   SELECT FROM pg_catalog.pg_proc u
                   WHERE u.oid <> p.oid AND pg_catalog.strpos(u.prosrc, p.proname) > 0)
               ORDER BY 1""",
            [PGTRIGGER_IGNORE],
        )
    ]


def leftovers(connection) -> dict[str, list[str]]:
    """Every compat object in the database: what ``complete`` must leave at zero."""
    pattern = r"\_compat\_%"
    return {
        "schemas": [
            r[0]
            for r in _rows(
                connection,
                "SELECT nspname FROM pg_catalog.pg_namespace WHERE nspname LIKE %s ORDER BY 1",
                [_LEGACY_SCHEMAS],
            )
        ],
        "columns": [
            f"{r[0]}.{r[1]}.{r[2]}"
            for r in _rows(
                connection,
                """SELECT n.nspname, c.relname, a.attname FROM pg_catalog.pg_attribute a
                   JOIN pg_catalog.pg_class c ON c.oid = a.attrelid
                   JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
                   WHERE a.attname LIKE %s AND NOT a.attisdropped ORDER BY 1, 2, 3""",
                [pattern],
            )
        ],
        "functions": [
            f"{r[0]}.{r[1]}"
            for r in _rows(
                connection,
                """SELECT n.nspname, p.proname FROM pg_catalog.pg_proc p
                   JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
                   WHERE p.proname LIKE %s ORDER BY 1, 2""",
                [pattern],
            )
        ]
        + [f"{schema}.{PGTRIGGER_IGNORE}" for schema in unused_ignore_functions(connection)],
        "domains": [
            f"{r[0]}.{r[1]}"
            for r in _rows(
                connection,
                """SELECT n.nspname, t.typname FROM pg_catalog.pg_type t
                   JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace
                   WHERE t.typname LIKE %s AND t.typtype = 'd' ORDER BY 1, 2""",
                [pattern],
            )
        ],
        "triggers": [
            f"{r[0]} on {r[1]}"
            for r in _rows(
                connection,
                """SELECT t.tgname, c.relname FROM pg_catalog.pg_trigger t
                   JOIN pg_catalog.pg_class c ON c.oid = t.tgrelid
                   WHERE t.tgname LIKE %s ORDER BY 1, 2""",
                [pattern],
            )
        ],
    }


@dataclass(frozen=True)
class SchemaObject:
    """An object that ``DROP SCHEMA … CASCADE`` would drop, as ``pg_identify_object``
    names it: ``kind`` (``table``, ``function``, ``extension``, …) and ``identity``
    (schema-qualified and quoted, usable in SQL). ``name`` and ``relkind`` say which
    relation it is (None for any other object)."""

    kind: str
    identity: str
    name: str | None = None
    relkind: str | None = None


def schema_objects(connection, schema: str) -> list[SchemaObject]:
    """The objects of ``schema``, each one that has to be moved out on its own.

    Every object in a schema has a normal dependency on it, which is how DROP SCHEMA
    finds them. Indexes, constraints, triggers and row types belong to their relation
    and have none. Two kinds move with another object, so they are left out: an
    extension's members (``ALTER EXTENSION … SET SCHEMA``) and a sequence owned by a
    column of a table in the schema (``ALTER TABLE … SET SCHEMA`` takes it along). A
    partition does not move with its parent and is listed.
    """
    rows = _rows(
        connection,
        """
        SELECT o.type, o.identity, c.relname, c.relkind
        FROM pg_catalog.pg_depend d
        CROSS JOIN LATERAL pg_catalog.pg_identify_object(d.classid, d.objid, 0) o
        LEFT JOIN pg_catalog.pg_class c
          ON d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass AND c.oid = d.objid
        WHERE d.refclassid = 'pg_catalog.pg_namespace'::pg_catalog.regclass
          AND d.refobjid = (SELECT oid FROM pg_catalog.pg_namespace WHERE nspname = %s)
          AND d.deptype = 'n'
          AND NOT EXISTS (
            SELECT FROM pg_catalog.pg_depend e
            LEFT JOIN pg_catalog.pg_class owner
              ON e.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass
             AND owner.oid = e.refobjid
            WHERE e.classid = d.classid AND e.objid = d.objid
              AND (e.deptype = 'e'
                   OR (c.relkind = 'S' AND e.deptype IN ('a', 'i')
                       AND owner.relnamespace = d.refobjid)))
        ORDER BY 1, 2
        """,
        [schema],
    )
    return [SchemaObject(*row) for row in rows]


def view_dependents(connection, schema: str, views: list[str]) -> list[tuple[str, str]]:
    """(dependent, view) pairs of the objects that depend on views of ``schema``, each
    named ``kind identity``: a view or materialized view that reads one (its rule, named
    by its relation), a function whose body (``BEGIN ATOMIC``) or signature uses one, a
    column of its row type. DROP VIEW refuses while they exist; a view's own rule and
    row type, and the triggers and rules put on it (which go with it), are not listed.
    """
    rows = _rows(
        connection,
        """
        SELECT DISTINCT
               CASE WHEN r.oid IS NULL THEN dep.type || ' ' || dep.identity
                    ELSE rel.type || ' ' || rel.identity END,
               view.identity
        FROM pg_catalog.pg_class v
        CROSS JOIN LATERAL pg_catalog.pg_identify_object(
            'pg_catalog.pg_class'::pg_catalog.regclass, v.oid, 0) view
        JOIN pg_catalog.pg_depend d
          ON (d.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass AND d.refobjid = v.oid)
          OR (d.refclassid = 'pg_catalog.pg_type'::pg_catalog.regclass AND d.refobjid = v.reltype)
        LEFT JOIN pg_catalog.pg_rewrite r
          ON d.classid = 'pg_catalog.pg_rewrite'::pg_catalog.regclass AND r.oid = d.objid
        CROSS JOIN LATERAL pg_catalog.pg_identify_object(d.classid, d.objid, d.objsubid) dep
        LEFT JOIN LATERAL pg_catalog.pg_identify_object(
            'pg_catalog.pg_class'::pg_catalog.regclass, r.ev_class, 0) rel ON true
        WHERE v.relnamespace = (SELECT oid FROM pg_catalog.pg_namespace WHERE nspname = %s)
          AND v.relname = ANY(%s) AND v.relkind = 'v' AND d.deptype = 'n'
          AND r.ev_class IS DISTINCT FROM v.oid
        ORDER BY 1, 2
        """,
        [schema, list(views)],
    )
    return [(row[0], row[1]) for row in rows]


def object_state(connection, schema: str, table: str, name: str) -> str | None:
    """``valid`` / ``invalid`` for an index or constraint named ``name``, else None.

    An index a concurrent build gave up on stays behind INVALID; a foreign key added
    NOT VALID is not yet validated. Both must be finished, not taken as done.
    """
    rows = _rows(
        connection,
        """
        SELECT CASE WHEN i.indisvalid THEN 'valid' ELSE 'invalid' END
        FROM pg_catalog.pg_index i JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid
        JOIN pg_catalog.pg_namespace n ON n.oid = ic.relnamespace
        WHERE n.nspname = %s AND ic.relname = %s
        UNION ALL
        SELECT CASE WHEN k.convalidated THEN 'valid' ELSE 'invalid' END
        FROM pg_catalog.pg_constraint k JOIN pg_catalog.pg_class c ON c.oid = k.conrelid
        JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = %s AND c.relname = %s AND k.conname = %s AND k.contype IN ('f', 'c')
        """,
        [schema, name, schema, table, name],
    )
    return rows[0][0] if rows else None
