"""A fingerprint of a live database's schema: one digest that changes whenever its schema does.

Read straight from the catalog (PostgreSQL), ``information_schema``
(MySQL/MariaDB) or ``sqlite_master`` (SQLite), in a few queries whatever the
number of tables, and stricter than Alembic's comparison: columns with their
types, defaults, nullability, identity and collation; constraints and indexes
by their definitions; views, triggers, functions, enum labels and sequence
options. safemigrate's own tables (``safemigrate_*``) are left out; their rows
change with every run. Row contents never count.

Used to tell that a database is exactly as it was when it was last proven equal
to its revision's schema (:mod:`safemigrate.state.proofs`).
"""

from __future__ import annotations

import hashlib

from sqlalchemy import text
from sqlalchemy.engine import Connection

_OURS_PG = "NOT (c.relname LIKE 'safemigrate\\_%')"
_USER_PG = ("n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast') "
            "AND n.nspname NOT LIKE 'pg\\_temp\\_%' AND n.nspname NOT LIKE 'pg\\_toast\\_temp\\_%'")

_POSTGRESQL = (
    # relations, with their columns in order
    f"""SELECT 'rel', n.nspname, c.relname, c.relkind::text, c.relpersistence::text,
               coalesce(array_to_string(c.reloptions, ','), '')
        FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f', 'c') AND {_USER_PG} AND {_OURS_PG}""",
    f"""SELECT 'col', n.nspname, c.relname, a.attnum::text, a.attname,
               pg_catalog.format_type(a.atttypid, a.atttypmod) || ' ' || a.attnotnull::text || ' '
               || a.attidentity::text || ' ' || a.attgenerated::text || ' ' || coalesce(co.collname, '') || ' '
               || coalesce(pg_catalog.pg_get_expr(d.adbin, d.adrelid), '')
        FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_class c ON c.oid = a.attrelid
        JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
        LEFT JOIN pg_catalog.pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
        LEFT JOIN pg_catalog.pg_collation co ON co.oid = a.attcollation AND a.attcollation <> 100
        WHERE a.attnum > 0 AND NOT a.attisdropped AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'c')
          AND {_USER_PG} AND {_OURS_PG}""",
    f"""SELECT 'con', n.nspname, c.relname, k.conname, pg_catalog.pg_get_constraintdef(k.oid), k.convalidated::text
        FROM pg_catalog.pg_constraint k JOIN pg_catalog.pg_class c ON c.oid = k.conrelid
        JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE {_USER_PG} AND {_OURS_PG}""",
    f"""SELECT 'idx', n.nspname, c.relname, pg_catalog.pg_get_indexdef(i.indexrelid), i.indisvalid::text, ''
        FROM pg_catalog.pg_index i JOIN pg_catalog.pg_class c ON c.oid = i.indrelid
        JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE {_USER_PG} AND {_OURS_PG}""",
    f"""SELECT 'view', n.nspname, c.relname, pg_catalog.pg_get_viewdef(c.oid), '', ''
        FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relkind IN ('v', 'm') AND {_USER_PG}""",
    f"""SELECT 'trg', n.nspname, c.relname, pg_catalog.pg_get_triggerdef(t.oid), t.tgenabled::text, ''
        FROM pg_catalog.pg_trigger t JOIN pg_catalog.pg_class c ON c.oid = t.tgrelid
        JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE NOT t.tgisinternal AND {_USER_PG}""",
    f"""SELECT 'fn', n.nspname, p.proname, pg_catalog.pg_get_function_identity_arguments(p.oid),
               pg_catalog.md5(coalesce(p.prosrc, '')), pg_catalog.pg_get_function_result(p.oid)
        FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
        WHERE {_USER_PG} AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d
                                         WHERE d.objid = p.oid AND d.deptype = 'e')""",
    f"""SELECT 'enum', n.nspname, t.typname, string_agg(e.enumlabel, ',' ORDER BY e.enumsortorder), '', ''
        FROM pg_catalog.pg_type t JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace
        JOIN pg_catalog.pg_enum e ON e.enumtypid = t.oid WHERE {_USER_PG} GROUP BY n.nspname, t.typname""",
    f"""SELECT 'seq', n.nspname, c.relname, s.seqtypid::regtype::text,
               s.seqincrement || ' ' || s.seqmin || ' ' || s.seqmax || ' ' || s.seqstart || ' ' || s.seqcycle,
               s.seqcache::text
        FROM pg_catalog.pg_sequence s JOIN pg_catalog.pg_class c ON c.oid = s.seqrelid
        JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE {_USER_PG} AND {_OURS_PG}""",
    """SELECT 'ext', e.extname, e.extversion, '', '', '' FROM pg_catalog.pg_extension e""",
)

_OURS_MY = "TABLE_NAME NOT LIKE 'safemigrate\\_%'"
_MYSQL = (
    f"""SELECT 'tbl', TABLE_NAME, TABLE_TYPE, coalesce(ENGINE, ''), coalesce(TABLE_COLLATION, ''),
               coalesce(CREATE_OPTIONS, '') FROM information_schema.TABLES
        WHERE TABLE_SCHEMA = DATABASE() AND {_OURS_MY}""",
    f"""SELECT 'col', TABLE_NAME, ORDINAL_POSITION, COLUMN_NAME, COLUMN_TYPE,
               concat_ws(' ', IS_NULLABLE, coalesce(COLUMN_DEFAULT, '<none>'), EXTRA, coalesce(COLLATION_NAME, ''),
                         coalesce(GENERATION_EXPRESSION, ''), COLUMN_COMMENT)
        FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND {_OURS_MY}""",
    f"""SELECT 'idx', TABLE_NAME, INDEX_NAME, SEQ_IN_INDEX, coalesce(COLUMN_NAME, ''),
               concat_ws(' ', NON_UNIQUE, coalesce(SUB_PART, ''), INDEX_TYPE, coalesce(COLLATION, ''))
        FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = DATABASE() AND {_OURS_MY}""",
    f"""SELECT 'key', TABLE_NAME, CONSTRAINT_NAME, ORDINAL_POSITION, COLUMN_NAME,
               concat_ws(' ', coalesce(REFERENCED_TABLE_NAME, ''), coalesce(REFERENCED_COLUMN_NAME, ''))
        FROM information_schema.KEY_COLUMN_USAGE WHERE TABLE_SCHEMA = DATABASE() AND {_OURS_MY}""",
    f"""SELECT 'fk', TABLE_NAME, CONSTRAINT_NAME, UPDATE_RULE, DELETE_RULE, REFERENCED_TABLE_NAME
        FROM information_schema.REFERENTIAL_CONSTRAINTS WHERE CONSTRAINT_SCHEMA = DATABASE() AND {_OURS_MY}""",
    f"""SELECT 'con', TABLE_NAME, CONSTRAINT_NAME, CONSTRAINT_TYPE, '', ''
        FROM information_schema.TABLE_CONSTRAINTS WHERE TABLE_SCHEMA = DATABASE() AND {_OURS_MY}""",
    """SELECT 'chk', CONSTRAINT_NAME, CHECK_CLAUSE, '', '', ''
        FROM information_schema.CHECK_CONSTRAINTS WHERE CONSTRAINT_SCHEMA = DATABASE()""",
    f"""SELECT 'view', TABLE_NAME, VIEW_DEFINITION, '', '', ''
        FROM information_schema.VIEWS WHERE TABLE_SCHEMA = DATABASE() AND {_OURS_MY}""",
    """SELECT 'trg', TRIGGER_NAME, EVENT_OBJECT_TABLE, concat_ws(' ', ACTION_TIMING, EVENT_MANIPULATION),
               ACTION_STATEMENT, '' FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = DATABASE()""",
    """SELECT 'fn', ROUTINE_NAME, ROUTINE_TYPE, coalesce(ROUTINE_DEFINITION, ''), '', ''
        FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = DATABASE()""",
)

_SQLITE = (
    """SELECT type, name, tbl_name, coalesce(sql, '') FROM sqlite_master
       WHERE name NOT LIKE 'sqlite\\_%' ESCAPE '\\' AND tbl_name NOT LIKE 'safemigrate\\_%' ESCAPE '\\'""",
)


def schema_fingerprint(conn: Connection) -> str:
    """sha256 of the schema of the database ``conn`` is connected to (its current database / schemas)."""
    name = conn.dialect.name
    queries = _POSTGRESQL if name == "postgresql" else _MYSQL if name in {"mysql", "mariadb"} else _SQLITE
    rows: list[str] = []
    for query in queries:
        rows += ["\x1f".join("" if v is None else str(v) for v in row) for row in conn.execute(text(query)).all()]
    digest = hashlib.sha256(f"{name}\x1e".encode())
    for row in sorted(rows):
        digest.update(row.encode("utf-8", "surrogatepass") + b"\x1e")
    return digest.hexdigest()
