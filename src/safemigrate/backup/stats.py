"""Tables, their columns and their row counts: what a restore must reproduce."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.engine import Connection

from safemigrate.backup.results import TableStats

_PG_TABLES = """
SELECT n.nspname, c.relname, array_agg(a.attname::text ORDER BY a.attnum)
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
WHERE c.relkind IN ('r', 'p')
  AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%'
  AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid
                  AND d.deptype = 'e')
GROUP BY n.nspname, c.relname
"""
_MYSQL_TABLES = """
SELECT c.table_name, c.column_name FROM information_schema.columns c
JOIN information_schema.tables t ON t.table_schema = c.table_schema AND t.table_name = c.table_name
WHERE c.table_schema = DATABASE() AND t.table_type = 'BASE TABLE'
ORDER BY c.table_name, c.ordinal_position
"""


def columns(conn: Connection, backend: str) -> dict[str, list[str]]:
    """Table name -> column names (PostgreSQL tables outside ``public`` are ``schema.table``)."""
    if backend == "postgresql":
        rows = conn.execute(text(_PG_TABLES)).all()
        return {(name if schema == "public" else f"{schema}.{name}"): list(cols) for schema, name, cols in rows}
    if backend == "mysql":
        found: dict[str, list[str]] = {}
        for table, column in conn.execute(text(_MYSQL_TABLES)).all():
            found.setdefault(table, []).append(column)
        return found
    names = conn.execute(text("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' "
                              "ESCAPE '\\'")).scalars().all()
    return {name: [row[1] for row in conn.execute(text(f"PRAGMA table_info({_quote(name, backend)})")).all()]
            for name in names}


def _quote(name: str, backend: str) -> str:
    if backend == "mysql":
        return "`" + name.replace("`", "``") + "`"
    return ".".join('"' + part.replace('"', '""') + '"' for part in (name.split(".", 1) if backend == "postgresql"
                                                                     else [name]))


def table_stats(conn: Connection, backend: str, *, count: bool = True) -> dict[str, TableStats]:
    """Every table's columns, whether it has a row, and (with ``count``) its exact row count, read through
    ``conn`` (in its snapshot). Without ``count`` one row per table is read at most."""
    out: dict[str, TableStats] = {}
    for name, cols in sorted(columns(conn, backend).items()):
        quoted = _quote(name, backend)
        if count:
            rows = int(conn.execute(text(f"SELECT count(*) FROM {quoted}")).scalar_one())
            out[name] = TableStats(columns=cols, rows=rows, nonempty=rows > 0)
        else:
            found = conn.execute(text(f"SELECT 1 FROM {quoted} LIMIT 1")).first() is not None
            out[name] = TableStats(columns=cols, rows=None, nonempty=found)
    return out


def missing_data(source: dict[str, TableStats], dumped: set[str]) -> list[str]:
    """Tables that had rows when the dump was taken but have no data in it."""
    return sorted(name for name, stats in source.items()
                  if (stats.nonempty or (stats.rows or 0) > 0) and name not in dumped)


def compare(source: dict[str, TableStats], restored: dict[str, TableStats]) -> tuple[list[str], list[str]]:
    """(schema differences, row-count differences), each a readable line."""
    schema: list[str] = []
    counts: list[str] = []
    for name in sorted(set(source) - set(restored)):
        schema.append(f"table {name} is missing from the restored database")
    for name in sorted(set(restored) - set(source)):
        schema.append(f"table {name} exists only in the restored database")
    for name in sorted(set(source) & set(restored)):
        if source[name].columns != restored[name].columns:
            missing = [c for c in source[name].columns if c not in restored[name].columns]
            extra = [c for c in restored[name].columns if c not in source[name].columns]
            detail = "; ".join(filter(None, [f"missing {', '.join(missing)}" if missing else "",
                                             f"extra {', '.join(extra)}" if extra else ""])) or "column order differs"
            schema.append(f"table {name}: {detail}")
        if source[name].rows is not None and source[name].rows != restored[name].rows:
            counts.append(f"table {name}: {source[name].rows} row(s) in the source, {restored[name].rows} restored")
    return schema, counts
