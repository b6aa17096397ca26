"""What a revision DID on PostgreSQL, read from the catalog inside its own transaction.

Statements can reach the database without passing any hook (a raw DBAPI
cursor, a function created earlier and called later, ``EXECUTE format(...)``,
a bound parameter that turns ``WHERE :flag`` into ``WHERE true``). PostgreSQL
runs DDL in the revision's transaction, so before that transaction commits
the catalog can be compared with its state when the revision began: a table,
view, column, constraint, index, sequence, schema or enum value that is gone,
a rename, a column whose type narrowed, a sequence restarted, an owner
changed, a table that held rows and holds none (TRUNCATE, or a DELETE that
left nothing). Objects are matched by OID, so dropping a table and creating
another of the same name is still a drop.

Each effect carries the id of the rule that guards the same change in SQL
(``drop-table``, ``truncate``...), so one sign-off covers the statement and
its effect. Not seen here: rows updated in place (every row of a table can
be rewritten by an UPDATE without losing a row count), and what another
connection commits (the run-time guard refuses new connections during a
revision; a raw driver connection opened by hand is outside any hook).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from sqlalchemy import text
from sqlalchemy.engine import Connection

_SYSTEM_SCHEMAS = ("pg_catalog", "information_schema", "pg_toast")
_KIND = {"r": "table", "p": "table", "v": "view", "m": "materialized view", "S": "sequence", "f": "foreign table",
         "i": "index", "I": "index"}
#: Effects with no SQL rule of their own, and whether they block (the others take their rule's severity).
EFFECT_ONLY = {"drop-view": True, "drop-sequence": True, "alter-sequence-restart": True, "change-owner": True,
               "rename-index": False}
_RULE_FOR_DROP = {"table": "drop-table", "foreign table": "drop-table", "view": "drop-view",
                  "materialized view": "drop-view", "sequence": "drop-sequence", "index": "drop-index"}

_RELATIONS = """
SELECT c.oid, n.nspname, c.relname, c.relkind, c.relfilenode, pg_get_userbyid(c.relowner), i.indrelid
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace LEFT JOIN pg_index i ON i.indexrelid = c.oid
WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f', 'i', 'I')
  AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')
  AND n.nspname NOT LIKE 'pg_temp_%' AND n.nspname NOT LIKE 'pg_toast_temp_%'
"""
_COLUMNS = """
SELECT a.attrelid, a.attnum, a.attname, format_type(a.atttypid, a.atttypmod), a.attisdropped
FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE a.attnum > 0 AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
  AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')
  AND n.nspname NOT LIKE 'pg_temp_%' AND n.nspname NOT LIKE 'pg_toast_temp_%'
"""
_CONSTRAINTS = """
SELECT k.oid, k.conrelid, k.conname, k.contype FROM pg_constraint k JOIN pg_namespace n ON n.oid = k.connamespace
WHERE k.conrelid <> 0 AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')
  AND n.nspname NOT LIKE 'pg_temp_%'
"""
_SCHEMAS = """
SELECT nspname FROM pg_namespace
WHERE nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')
  AND nspname NOT LIKE 'pg_temp_%' AND nspname NOT LIKE 'pg_toast_temp_%'
"""
_ENUMS = """
SELECT t.oid, n.nspname, t.typname, e.enumlabel FROM pg_enum e JOIN pg_type t ON t.oid = e.enumtypid
JOIN pg_namespace n ON n.oid = t.typnamespace
"""
_SEQUENCES = "SELECT schemaname, sequencename, last_value FROM pg_sequences"


@dataclass(frozen=True)
class Relation:
    oid: int
    schema: str
    name: str
    kind: str
    filenode: int
    owner: str
    table: int | None = None  # an index's table

    @property
    def label(self) -> str:
        return self.name if self.schema == "public" else f"{self.schema}.{self.name}"


@dataclass(frozen=True)
class Effect:
    """One destructive thing a revision did, in the words and the rule id the SQL guard uses."""

    rule: str
    target: str  # "table" or "table.column" (schema-qualified outside public): what a sign-off names
    description: str


@dataclass
class Catalog:
    """The user-visible catalog of one database, at one moment of a transaction."""

    relations: dict[int, Relation] = field(default_factory=dict)
    columns: dict[tuple[int, int], tuple[str, str, bool]] = field(default_factory=dict)  # name, type, dropped
    constraints: dict[int, tuple[int, str, str]] = field(default_factory=dict)  # relation, name, type
    schemas: set[str] = field(default_factory=set)
    enums: dict[int, tuple[str, set[str]]] = field(default_factory=dict)  # type label, values
    sequences: dict[tuple[str, str], int | None] = field(default_factory=dict)
    with_rows: set[int] = field(default_factory=set)  # tables holding at least one row


def snapshot(connection: Connection) -> Catalog:
    """The catalog as ``connection`` sees it now (inside the revision's transaction)."""
    catalog = Catalog()
    for oid, schema, name, kind, filenode, owner, table in connection.execute(text(_RELATIONS)):
        catalog.relations[oid] = Relation(oid, schema, name, kind, filenode, owner, table)
    for relid, number, name, type_, dropped in connection.execute(text(_COLUMNS)):
        catalog.columns[(relid, number)] = (name, type_, dropped)
    for oid, relid, name, kind in connection.execute(text(_CONSTRAINTS)):
        catalog.constraints[oid] = (relid, name, kind)
    catalog.schemas = {row[0] for row in connection.execute(text(_SCHEMAS))}
    for oid, schema, name, label in connection.execute(text(_ENUMS)):
        type_label = name if schema == "public" else f"{schema}.{name}"
        catalog.enums.setdefault(oid, (type_label, set()))[1].add(label)
    for schema, name, last in connection.execute(text(_SEQUENCES)):
        catalog.sequences[(schema, name)] = last
    catalog.with_rows = _tables_with_rows(connection, catalog)
    return catalog


def _tables_with_rows(connection: Connection, catalog: Catalog) -> set[int]:
    """Tables holding at least one row (one page read each, in one round trip)."""
    tables = [r for r in catalog.relations.values() if r.kind in {"r", "p", "m"}]
    readable = {row[0] for row in connection.execute(
        text("SELECT c.oid FROM pg_class c WHERE c.oid = ANY(:oids) AND has_table_privilege(c.oid, 'SELECT')"),
        {"oids": [t.oid for t in tables]})} if tables else set()
    probes = [f"SELECT {t.oid}::oid WHERE EXISTS (SELECT 1 FROM ONLY {_quoted(t)})"
              for t in tables if t.oid in readable and t.kind != "m"]
    if not probes:
        return set()
    return {int(row[0]) for row in connection.execute(text(" UNION ALL ".join(probes)))}


def _quoted(relation: Relation) -> str:
    return '"' + relation.schema.replace('"', '""') + '"."' + relation.name.replace('"', '""') + '"'


def effects(before: Catalog, after: Catalog) -> list[Effect]:
    """The destructive effects between two snapshots of one transaction."""
    found: list[Effect] = []
    for oid, old in before.relations.items():
        new = after.relations.get(oid)
        kind = _KIND.get(old.kind, "relation")
        if new is None:
            if old.kind in {"i", "I"} and (old.table not in after.relations
                                           or _constraint_dropped(before, after, old.table, old.name)):
                continue  # the index went with its table or its constraint, which is reported
            found.append(Effect(_RULE_FOR_DROP.get(kind, "drop-table"), old.label,
                                f"dropped {kind} {old.label}" + (" (it held rows)" if oid in before.with_rows
                                                                   else "")))
            continue
        if (new.schema, new.name) != (old.schema, old.name):
            rule = "rename-table" if old.kind in {"r", "p", "f", "v", "m"} else "rename-index"
            found.append(Effect(rule, old.label, f"renamed {kind} {old.label} to {new.label}"))
        if new.owner != old.owner:
            found.append(Effect("change-owner", old.label, f"changed the owner of {kind} {old.label} from "
                                f"{old.owner} to {new.owner}"))
        if oid in before.with_rows and oid not in after.with_rows and old.kind in {"r", "p"}:
            if new.filenode != old.filenode:
                found.append(Effect("truncate", old.label, f"emptied table {old.label} (TRUNCATE): every row "
                                    "is gone"))
            else:
                found.append(Effect("delete-without-where", old.label, f"deleted every row of table {old.label}"))
    found += _column_effects(before, after)
    found += _constraint_effects(before, after)
    for schema in sorted(before.schemas - after.schemas):
        found.append(Effect("drop-schema-or-database", schema, f"dropped schema {schema}"))
    for oid, (label, values) in before.enums.items():
        gone = values - after.enums.get(oid, (label, set()))[1]
        if oid in after.enums and gone:
            found.append(Effect("drop-enum-value-or-rename", label, f"removed value(s) {', '.join(sorted(gone))} "
                                f"from enum {label}"))
        elif oid not in after.enums:
            found.append(Effect("drop-enum-value-or-rename", label, f"dropped enum type {label}"))
    for key, last in before.sequences.items():
        now = after.sequences.get(key, last)
        if last is not None and key in after.sequences and (now is None or now < last):
            name = key[1] if key[0] == "public" else ".".join(key)
            found.append(Effect("alter-sequence-restart", name, f"restarted sequence {name} (from {last} to "
                                f"{now if now is not None else 'its start'}): new rows can collide with old keys"))
    return found


def _constraint_dropped(before: Catalog, after: Catalog, table: int | None, name: str) -> bool:
    return any(relid == table and conname == name and oid not in after.constraints
               for oid, (relid, conname, _) in before.constraints.items())


def _column_effects(before: Catalog, after: Catalog) -> list[Effect]:
    found: list[Effect] = []
    for (relid, number), (name, type_, dropped) in before.columns.items():
        if dropped or relid not in after.relations:
            continue  # a dropped table is reported as such
        table = after.relations[relid]
        if table.kind not in {"r", "p", "f"}:
            continue  # a view's columns change with its definition
        target = f"{before.relations[relid].label}.{name}" if relid in before.relations else name
        now = after.columns.get((relid, number))
        if now is None or now[2]:
            found.append(Effect("drop-column", target, f"dropped column {target}"))
            continue
        if now[0] != name:
            found.append(Effect("rename-column", target, f"renamed column {target} to {now[0]}"))
        if now[1] != type_ and narrows(type_, now[1]):
            found.append(Effect("narrow-column-type", target, f"narrowed column {target} from {type_} to {now[1]}"))
    return found


def _constraint_effects(before: Catalog, after: Catalog) -> list[Effect]:
    found: list[Effect] = []
    kinds = {"f": "foreign key", "u": "unique constraint", "c": "check constraint", "p": "primary key",
             "x": "exclusion constraint"}
    for oid, (relid, name, kind) in before.constraints.items():
        if oid in after.constraints or relid not in after.relations or kind not in kinds:
            continue
        table = after.relations[relid].label
        found.append(Effect("drop-constraint", f"{table}.{name}", f"dropped {kinds[kind]} {name} on {table}"))
    return found


_SIZED = re.compile(r"^(character varying|varchar|character|char|bit varying|bit)\((\d+)\)$")
_NUMERIC = re.compile(r"^numeric\((\d+),(\d+)\)$")
_INTEGERS = {"smallint": 2, "integer": 4, "bigint": 8}
_FLOATS = {"real": 4, "double precision": 8}


def narrows(before: str, after: str) -> bool:
    """Whether changing a column from ``before`` to ``after`` (format_type names) can lose or refuse data."""
    if before == after:
        return False
    if before in _INTEGERS and after in _INTEGERS:
        return _INTEGERS[after] < _INTEGERS[before]
    if before in _FLOATS and after in _FLOATS:
        return _FLOATS[after] < _FLOATS[before]
    sized_before, sized_after = _SIZED.match(before), _SIZED.match(after)
    if sized_after and before in {"text", "character varying", "varchar"}:
        return True  # unbounded to bounded
    if after in {"text", "character varying"}:
        return False  # anything fits in unbounded text
    if sized_before and sized_after:
        same_family = sized_before.group(1).split()[0] == sized_after.group(1).split()[0]
        return not same_family or int(sized_after.group(2)) < int(sized_before.group(2))
    numeric_before, numeric_after = _NUMERIC.match(before), _NUMERIC.match(after)
    if numeric_before and numeric_after:
        (p1, s1), (p2, s2) = (map(int, m.groups()) for m in (numeric_before, numeric_after))
        return p2 - s2 < p1 - s1 or s2 < s1
    if before == "numeric" and numeric_after:
        return True
    if before in _INTEGERS and (after == "numeric" or (numeric_after and int(numeric_after.group(2)) == 0)):
        return False
    widening = {("timestamp without time zone", "timestamp with time zone"), ("date", "timestamp without time zone"),
                ("date", "timestamp with time zone"), ("json", "jsonb"), ("real", "numeric"),
                ("double precision", "numeric")}
    return (before, after) not in widening and not (before in _INTEGERS and after in _FLOATS)
