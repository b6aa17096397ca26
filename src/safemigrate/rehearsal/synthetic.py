"""A synthetic copy: every table of a throwaway database filled with generated rows, server-side.

One ``INSERT INTO t (...) SELECT ... FROM generate_series(1, n) AS g`` per table, parents before children,
so no row crosses the network. Values follow the catalog:

- types: numbers, text (within the declared length), booleans, dates and times, uuid, json, bytea,
  enums (their labels in turn), arrays (empty); a column of another type is left NULL when it may be;
- NOT NULL: every column gets a value unless it has a default (identity, serial, now()...), which is used;
- unique columns and unique indexes: one column of each is made unique from ``g``;
- CHECK constraints, where simple: ``col IN (...)`` / ``col = ANY (ARRAY[...])`` pick from the list;
  numbers are small and positive, so ``> 0`` and ``>= 0`` hold;
- foreign keys: values drawn from the parent's keys (the parent is filled first); a key the parent cannot
  give (a self reference, a cycle) is NULL when the column allows it.

While filling, ``session_replication_role = replica`` skips the foreign-key triggers when the role may set
it (the values are drawn from the parents: checking them row by row only costs time); else they run.
"""

from __future__ import annotations

import re
import secrets
import time
from dataclasses import dataclass, field

from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError

from safemigrate.core.errors import UsageError
from safemigrate.rehearsal.probes import quote_table
from safemigrate.rehearsal.results import TableFill

_TABLES = """
SELECT c.oid, CASE WHEN n.nspname = 'public' THEN c.relname ELSE n.nspname || '.' || c.relname END
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition
  AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%'
ORDER BY 2
"""
_COLUMNS = """
SELECT a.attnum, a.attname, format_type(a.atttypid, a.atttypmod), t.typtype, t.typcategory, a.attnotnull,
       a.atthasdef OR a.attidentity <> '' OR a.attgenerated <> '', a.atttypmod,
       CASE WHEN t.typtype = 'e' THEN (SELECT array_agg(e.enumlabel::text ORDER BY e.enumsortorder)
                                      FROM pg_enum e WHERE e.enumtypid = t.oid) END,
       CASE WHEN t.typtype = 'd' THEN format_type(t.typbasetype, t.typtypmod) END,
       a.attgenerated <> '', pg_get_serial_sequence(a.attrelid::regclass::text, a.attname)
FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
WHERE a.attrelid = :oid AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum
"""
_UNIQUES = "SELECT indkey::int2[] FROM pg_index WHERE indrelid = :oid AND indisunique AND indexprs IS NULL"
_FOREIGN_KEYS = """
SELECT conkey, (SELECT attname FROM pg_attribute WHERE attrelid = confrelid AND attnum = confkey[1]),
       (SELECT CASE WHEN n.nspname = 'public' THEN c.relname ELSE n.nspname || '.' || c.relname END
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = confrelid)
FROM pg_constraint WHERE conrelid = :oid AND contype = 'f'
"""
_CHECKS = "SELECT conkey, pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = :oid AND contype = 'c'"
_LITERAL = re.compile(r"'((?:[^']|'')*)'")


@dataclass
class Column:
    number: int
    name: str
    type: str  # as format_type() writes it: character varying(20), numeric(10,2)...
    typtype: str
    category: str
    not_null: bool
    has_default: bool
    typmod: int
    labels: list[str] | None  # an enum's labels
    base_type: str | None  # a domain's type
    generated: bool  # GENERATED ALWAYS AS (...) STORED
    sequence: str | None  # serial or identity: set past the generated keys afterwards
    unique: bool = False
    choices: list[str] = field(default_factory=list)  # from a simple CHECK (col IN (...))
    parent: tuple[str, str] | None = None  # (table, column) of a single-column foreign key
    unsupported_key: bool = False  # part of a foreign key the fill cannot draw (multi-column)


@dataclass
class Table:
    oid: int
    name: str
    columns: list[Column]
    parents: set[str]


def plan_rows(tables: list[str], default: int | None, per_table: dict[str, int]) -> dict[str, int]:
    """How many rows each table should end with."""
    unknown = sorted(set(per_table) - set(tables))
    if unknown:
        raise UsageError(
            f"--rows names table(s) the database does not have before the rehearsed revisions: {', '.join(unknown)}.",
            "A synthetic copy is the schema of the revision before the range, filled; the tables named must exist "
            "in it.",
            f"Use one of: {', '.join(tables) or '(no tables)'}.",
        )
    wanted = {t: default for t in tables if default is not None}
    wanted.update(per_table)
    return {t: n for t, n in wanted.items() if n is not None}


def user_tables(conn: Connection, skip: set[str]) -> list[str]:
    return [name for _, name in conn.execute(text(_TABLES)).all() if name not in skip
            and not name.split(".")[-1].startswith("safemigrate_")]


def fill(conn: Connection, rows: dict[str, int]) -> list[TableFill]:
    """Fill each table of ``rows`` to that many rows; returns what was inserted, in order."""
    tables = {t.name: t for t in (_describe(conn, oid, name) for oid, name in conn.execute(text(_TABLES)).all()
                                  if name in rows)}
    try:
        conn.execute(text("SET session_replication_role = replica"))
    except DBAPIError:
        conn.rollback()  # not allowed for this role: the foreign-key triggers check every row
    done: list[TableFill] = []
    token = secrets.token_hex(2)
    for name in _parents_first(tables):
        table = tables[name]
        existing = int(conn.execute(text(f"SELECT count(*) FROM {quote_table(name)}")).scalar() or 0)
        count = rows[name] - existing
        if count <= 0:
            done.append(TableFill(name, 0, 0.0))
            continue
        started = time.perf_counter()
        statement = _insert(conn, table, count, token)
        try:
            conn.execute(text(statement))
            for column in table.columns:  # the application's next insert must not collide with a generated key
                if column.sequence and column.unique:
                    name_sql = '"' + column.name.replace('"', '""') + '"'
                    conn.execute(text(f"SELECT setval(:seq, (SELECT max({name_sql}) FROM {quote_table(name)}))"),
                                 {"seq": column.sequence})
            conn.commit()
        except DBAPIError as exc:
            conn.rollback()
            raise _fill_failed(name, exc) from None
        done.append(TableFill(name, count, round(time.perf_counter() - started, 3)))
    conn.execute(text("RESET session_replication_role"))
    for name in tables:
        conn.execute(text(f"ANALYZE {quote_table(name)}"))
    conn.commit()
    return done


def _describe(conn: Connection, oid: int, name: str) -> Table:
    columns = [Column(*row) for row in conn.execute(text(_COLUMNS), {"oid": oid}).all()]
    by_number = {c.number: c for c in columns}
    for (keys,) in conn.execute(text(_UNIQUES), {"oid": oid}).all():
        candidates = [by_number[k] for k in keys if k in by_number]
        if candidates and not any(c.unique for c in candidates):
            # one column of each unique key made unique is enough; prefer one the fill generates itself
            best = next((c for c in candidates if not c.has_default and not c.labels and c.type != "boolean"),
                        candidates[0])
            best.unique = True
    parents: set[str] = set()
    for keys, parent_column, parent in conn.execute(text(_FOREIGN_KEYS), {"oid": oid}).all():
        if len(keys) == 1 and keys[0] in by_number:
            by_number[keys[0]].parent = (parent, str(parent_column))
            if parent != name:
                parents.add(parent)
        else:
            for k in keys:
                if k in by_number:
                    by_number[k].unsupported_key = True
    for keys, definition in conn.execute(text(_CHECKS), {"oid": oid}).all():
        if len(keys or []) == 1 and keys[0] in by_number and ("= ANY" in definition or " OR " in definition):
            by_number[keys[0]].choices = [v.replace("''", "'") for v in _LITERAL.findall(definition)]
    return Table(oid, name, columns, parents)


def _parents_first(tables: dict[str, Table]) -> list[str]:
    """Tables in an order where each comes after the parents it references (cycles broken by name)."""
    order: list[str] = []
    remaining = dict(tables)
    while remaining:
        ready = sorted(n for n, t in remaining.items() if not (t.parents & set(remaining)))
        if not ready:  # a cycle: its keys are NULL where they may be (see _value)
            ready = [sorted(remaining)[0]]
        for name in ready:
            order.append(name)
            del remaining[name]
    return order


def _insert(conn: Connection, table: Table, count: int, token: str) -> str:
    sources: list[str] = [f"generate_series(1, {int(count)}) AS g"]
    names: list[str] = []
    values: list[str] = []
    for column in table.columns:
        if column.generated or (column.has_default and column.parent is None and not column.unique):
            continue  # now(), generated columns, serial and identity columns that are not keys: the server fills
        # a key's sequence may lag behind rows a revision inserted with explicit ids: keys are generated
        value = _value(table, column, token, sources)
        if value is None:
            continue
        names.append('"' + column.name.replace('"', '""') + '"')
        values.append(value)
    if not names:
        return f"INSERT INTO {quote_table(table.name)} SELECT FROM {sources[0]}"
    return (f"INSERT INTO {quote_table(table.name)} ({', '.join(names)}) OVERRIDING SYSTEM VALUE "
            f"SELECT {', '.join(values)} FROM {', '.join(sources)}")


def _value(table: Table, column: Column, token: str, sources: list[str]) -> str | None:
    """The SQL expression (of g) for one column, or None to leave it to its default / NULL."""
    if column.unsupported_key:
        return "NULL" if not column.not_null else _cannot(table, column, "it is part of a multi-column foreign key")
    if column.parent is not None:
        parent, parent_column = column.parent
        if parent == table.name:
            return "NULL" if not column.not_null else _cannot(table, column, "it references its own table")
        alias = f"k{len(sources)}"
        key = parent_column.replace('"', '""')
        sources.append(f'(SELECT array_agg("{key}") AS a '
                       f"FROM {quote_table(parent)}) AS {alias}")
        return f"{alias}.a[1 + ((g - 1) % greatest(cardinality({alias}.a), 1))]"
    if column.choices:
        listed = ", ".join("'" + c.replace("'", "''") + "'" for c in column.choices)
        return f"(ARRAY[{listed}])[1 + (g % {len(column.choices)})]::{column.type}"
    if column.labels:
        listed = ", ".join("'" + c.replace("'", "''") + "'" for c in column.labels)
        return f"(ARRAY[{listed}])[1 + (g % {len(column.labels)})]::{_quoted_type(column.type)}"
    kind = column.base_type or column.type
    expression = _for_type(kind, column, token, table.name)
    if expression is None:
        return None if not column.not_null else _cannot(table, column, f"safemigrate cannot generate {kind} values")
    return f"({expression})::{_quoted_type(column.type)}" if column.base_type else expression


def _for_type(kind: str, column: Column, token: str, table: str) -> str | None:
    unique = column.unique
    base = kind.split("(")[0].strip()
    if kind.endswith("[]"):
        return "'{}'"
    if base in {"integer", "bigint", "smallint"}:
        if unique:
            name = column.name.replace('"', '""')
            return f'g + (SELECT coalesce(max("{name}"), 0) FROM {quote_table(table)})'
        return "1 + (g % 100)"
    if base == "numeric":
        return "(g % 100000)::numeric" if unique else "(1 + (g % 100))::numeric"
    if base in {"real", "double precision"}:
        return f"(g)::{base}" if unique else f"((1 + (g % 100)) / 3.0)::{base}"
    if base in {"text", "character varying", "character", "citext", "name"}:
        length = _length(kind)
        value = f"'{token}-' || g" if unique else "md5(g::text)"
        return f"left({value}, {length})" if length else value
    if base == "boolean":
        return "(g % 2 = 0)"
    if base.startswith("timestamp"):
        return f"(timestamp '2020-01-01' + g * interval '1 second')::{kind}"
    if base == "date":
        return "date '2000-01-01' + (g % 3650)" if not unique else "date '2000-01-01' + g"
    if base.startswith("time"):
        return f"(time '00:00' + (g % 86400) * interval '1 second')::{kind}"
    if base == "interval":
        return "g * interval '1 second'"
    if base == "uuid":
        return f"md5('{token}' || g::text)::uuid"
    if base in {"json", "jsonb"}:
        return f"json_build_object('n', g)::{base}"
    if base == "bytea":
        return "decode(md5(g::text), 'hex')"
    if base in {"inet", "cidr"}:
        return f"('10.0.0.0'::inet + g)::{base}" if base == "inet" else None
    return None


def _length(kind: str) -> int | None:
    match = re.search(r"\((\d+)\)", kind)
    return int(match.group(1)) if match else None


def _quoted_type(kind: str) -> str:
    return kind  # format_type() already quotes what needs quoting


def _cannot(table: Table, column: Column, why: str) -> str:
    raise UsageError(
        f"The synthetic fill cannot give {table.name}.{column.name} ({column.type}, NOT NULL) a value: {why}.",
        "A synthetic copy fills every table of the schema before the rehearsed revisions.",
        f"Leave {table.name} as it is with --rows {table.name}=0, give the column a default, or rehearse on a copy "
        "of real data (--template or --from-url).",
    )


def _fill_failed(table: str, exc: DBAPIError) -> UsageError:
    detail = str(exc.orig).strip().splitlines() if exc.orig is not None else [str(exc)]
    return UsageError(
        f"The synthetic fill of {table} failed: {detail[0] if detail else type(exc).__name__}",
        "Generated values follow types, NOT NULL, unique keys, foreign keys and simple CHECK constraints; "
        "this table has a rule they do not meet.",
        f"Leave {table} as it is with --rows {table}=0, or rehearse on a copy of real data (--template or "
        "--from-url).",
    )
