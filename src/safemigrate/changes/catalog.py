"""What else hangs on a column: indexes, constraints, a default, views. Read before a change is written.

A rename must not lose what the old column carried: its plain indexes (unique
ones included) are built CONCURRENTLY on the new column by the expand revision,
a unique constraint is attached to that index by the contract, and the default
moves at the contract. What cannot be carried yet (a foreign key, a CHECK, an
expression or partial index, a view, the primary key, an identity) refuses
the change with its name, rather than dropping it silently with the old column.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import text
from sqlalchemy.engine import Connection

_ATTRIBUTE = """
SELECT a.attnum, a.attidentity <> '' OR a.attgenerated <> '',
       (SELECT pg_get_expr(d.adbin, d.adrelid) FROM pg_attrdef d WHERE d.adrelid = a.attrelid AND d.adnum = a.attnum)
FROM pg_attribute a WHERE a.attrelid = to_regclass(:table) AND a.attname = :column AND NOT a.attisdropped
"""
_INDEXES = """
SELECT ci.relname::text, i.indisunique, i.indisprimary, i.indexprs IS NOT NULL OR i.indpred IS NOT NULL,
       am.amname::text,
       (SELECT array_agg(a.attname::text ORDER BY k.ord)
          FROM unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord)
          JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum),
       (SELECT c.conname::text FROM pg_constraint c WHERE c.conindid = i.indexrelid AND c.conrelid = i.indrelid
          AND c.contype IN ('u', 'p', 'x') LIMIT 1),
       (SELECT c.contype::text FROM pg_constraint c WHERE c.conindid = i.indexrelid AND c.conrelid = i.indrelid
          AND c.contype IN ('u', 'p', 'x') LIMIT 1)
FROM pg_index i JOIN pg_class ci ON ci.oid = i.indexrelid JOIN pg_am am ON am.oid = ci.relam
WHERE i.indrelid = to_regclass(:table)
  AND (:attnum = ANY(i.indkey::int2[])  -- a key column; below: used in an expression or a predicate
       OR EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = i.indexrelid
                  AND d.refobjid = i.indrelid AND d.refobjsubid = :attnum))
ORDER BY 1
"""
_CONSTRAINTS = """
SELECT c.conname::text, c.contype::text, c.conrelid::regclass::text
FROM pg_constraint c
WHERE ((c.conrelid = to_regclass(:table) AND :attnum = ANY(c.conkey) AND c.contype IN ('c', 'f'))
       OR (c.confrelid = to_regclass(:table) AND :attnum = ANY(c.confkey)))
  AND c.conname NOT LIKE 'safemigrate\\_chg\\_%'
ORDER BY 1
"""
_VIEWS = """
SELECT DISTINCT v.oid::regclass::text
FROM pg_depend d JOIN pg_rewrite r ON r.oid = d.objid JOIN pg_class v ON v.oid = r.ev_class
WHERE d.classid = 'pg_rewrite'::regclass AND d.refobjid = to_regclass(:table) AND d.refobjsubid = :attnum
  AND v.oid <> to_regclass(:table)
ORDER BY 1
"""
_KINDS = {"c": "CHECK constraint", "f": "foreign key", "p": "primary key", "x": "exclusion constraint"}


@dataclass
class CarriedIndex:
    """An index of the old column, built again on the new one."""

    name: str  # the old index
    new_name: str
    unique: bool
    method: str
    columns: list[str]  # with the new column in the old one's place
    constraint: str | None = None  # the unique constraint it backs (attached again by the contract)
    new_constraint: str | None = None


@dataclass
class Dependents:
    default: str | None = None
    indexes: list[CarriedIndex] = field(default_factory=list)  # carried by a rename
    dropped_with_it: list[str] = field(default_factory=list)  # what a DROP COLUMN takes with it
    blockers: list[str] = field(default_factory=list)  # what the change cannot carry: it is refused


def renamed(name: str, old: str, new: str) -> str:
    """A name with the column's name replaced (``ix_users_email`` -> ``ix_users_email_address``)."""
    result = name.replace(old, new) if old in name else f"{name}_{new}"
    return result[:63]


def dependents(conn: Connection, table: str, column: str, new_column: str | None) -> Dependents:
    """What depends on ``table.column``; ``new_column`` set: what a rename carries and what stops it."""
    found = Dependents()
    attribute = conn.execute(text(_ATTRIBUTE), {"table": _quoted(table), "column": column}).first()
    if attribute is None:
        return found
    attnum, identity, found.default = attribute
    params = {"table": _quoted(table), "attnum": attnum}
    if identity and new_column:
        found.blockers.append(f"{table}.{column} is an identity or generated column")
    for name, unique, primary, complex_, method, columns, constraint, kind in conn.execute(text(_INDEXES), params):
        found.dropped_with_it.append(f"index {name}")
        if not new_column:
            continue
        if primary or kind in ("p", "x"):
            found.blockers.append(f"{_KINDS[kind or 'p']} {constraint or name}")
        elif complex_:
            found.blockers.append(f"index {name} (an expression or partial index)")
        else:
            found.indexes.append(CarriedIndex(
                name, renamed(name, column, new_column), bool(unique), str(method),
                [new_column if c == column else c for c in columns or []], constraint,
                renamed(constraint, column, new_column) if constraint else None))
    for name, kind, owner in conn.execute(text(_CONSTRAINTS), params):
        where = "" if owner.strip('"') == table else f" on {owner}"
        if new_column or where:  # a drop takes its own CHECKs and foreign keys with it, not another table's
            found.blockers.append(f"{_KINDS[kind]} {name}{where}")
        else:
            found.dropped_with_it.append(f"{_KINDS[kind]} {name}")
    for (view,) in conn.execute(text(_VIEWS), params):
        found.blockers.append(f"view {view}")
    return found


def _quoted(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


_COLUMNS = """
SELECT a.attname::text, a.attidentity <> '' OR a.attgenerated <> ''
FROM pg_attribute a WHERE a.attrelid = to_regclass(:table) AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum
"""
_TABLE_INDEXES = """
SELECT ci.relname::text, i.indisunique, i.indisprimary, i.indexprs IS NOT NULL OR i.indpred IS NOT NULL,
       am.amname::text,
       (SELECT array_agg(a.attname::text ORDER BY k.ord)
          FROM unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord)
          JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum),
       (SELECT c.conname::text FROM pg_constraint c WHERE c.conindid = i.indexrelid AND c.conrelid = i.indrelid
          AND c.contype IN ('u', 'p', 'x') LIMIT 1)
FROM pg_index i JOIN pg_class ci ON ci.oid = i.indexrelid JOIN pg_am am ON am.oid = ci.relam
WHERE i.indrelid = to_regclass(:table) ORDER BY 1
"""
_FOREIGN_KEYS = """
SELECT c.conname::text, c.conrelid::regclass::text, c.confrelid::regclass::text FROM pg_constraint c
WHERE c.contype = 'f' AND (c.conrelid = to_regclass(:table) OR c.confrelid = to_regclass(:table)) ORDER BY 1
"""
_TABLE_VIEWS = """
SELECT DISTINCT v.oid::regclass::text
FROM pg_depend d JOIN pg_rewrite r ON r.oid = d.objid JOIN pg_class v ON v.oid = r.ev_class
WHERE d.classid = 'pg_rewrite'::regclass AND d.refobjid = to_regclass(:table) AND v.oid <> to_regclass(:table)
ORDER BY 1
"""
_OWNED_SEQUENCES = """
SELECT s.oid::regclass::text, a.attname::text
FROM pg_depend d JOIN pg_class s ON s.oid = d.objid AND s.relkind = 'S'
JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
WHERE d.classid = 'pg_class'::regclass AND d.refobjid = to_regclass(:table) AND d.deptype = 'a' ORDER BY 1
"""


@dataclass
class TableShape:
    columns: list[str] = field(default_factory=list)
    pk_name: str | None = None
    indexes: list[CarriedIndex] = field(default_factory=list)
    sequences: list[list[str]] = field(default_factory=list)
    blockers: list[str] = field(default_factory=list)


def table_shape(conn: Connection, table: str, new_table: str) -> TableShape:
    """What a rename-table copies to the new table, and what stops it."""
    shape = TableShape()
    params = {"table": _quoted(table)}
    for name, special in conn.execute(text(_COLUMNS), params):
        shape.columns.append(name)
        if special:
            shape.blockers.append(f"identity or generated column {table}.{name} (two tables would number apart)")
    for name, unique, primary, complex_, method, columns, constraint in conn.execute(text(_TABLE_INDEXES), params):
        if primary:
            shape.pk_name = constraint or name
        elif complex_:
            shape.blockers.append(f"index {name} (an expression or partial index)")
        else:
            shape.indexes.append(CarriedIndex(
                name, renamed(name, table, new_table), bool(unique), str(method), list(columns or []), constraint,
                renamed(constraint, table, new_table) if constraint else None))
    for name, owner, referred in conn.execute(text(_FOREIGN_KEYS), params):
        shape.blockers.append(f"foreign key {name} ({owner} -> {referred})")
    for (view,) in conn.execute(text(_TABLE_VIEWS), params):
        shape.blockers.append(f"view {view}")
    shape.sequences = [[seq, column] for seq, column in conn.execute(text(_OWNED_SEQUENCES), params)]
    return shape
