"""Reading the PostgreSQL catalog for :mod:`safemigrate.guard.enforce.effects`, in a way a revision cannot steer.

Every query goes through the driver's own cursor (no SQLAlchemy event a
revision could hook sees it), with ``search_path`` pinned to
``pg_catalog, pg_temp`` for its duration (so a table, view, function or
operator the revision created elsewhere cannot shadow the catalog), and every
catalog name is written schema-qualified as well. The previous ``search_path``
is put back afterwards, as a transaction-local value inside a transaction, so
the revision's own setting is what it was.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any

from sqlalchemy.engine import Connection

from safemigrate.state.ledger import JOURNAL_TABLE

_USER_NAMESPACE = """n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')
  AND n.nspname NOT LIKE 'pg_temp_%' AND n.nspname NOT LIKE 'pg_toast_temp_%'"""
#: true when this transaction wrote the catalog row or table row whose ``xmin`` is given (age <= 0)
_OURS = "(pg_catalog.txid_current_if_assigned() IS NOT NULL AND pg_catalog.age({xmin}) <= 0)"

RELATIONS = f"""
SELECT c.oid::pg_catalog.int8, n.nspname::pg_catalog.text, c.relname::pg_catalog.text, c.relkind::pg_catalog.text,
       c.relfilenode::pg_catalog.int8, pg_catalog.pg_get_userbyid(c.relowner)::pg_catalog.text,
       i.indrelid::pg_catalog.int8
FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_catalog.pg_index i ON i.indexrelid = c.oid
WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f', 'i', 'I') AND {_USER_NAMESPACE}
"""
COLUMNS = f"""
SELECT a.attrelid::pg_catalog.int8, a.attnum::pg_catalog.int4, a.attname::pg_catalog.text,
       pg_catalog.format_type(a.atttypid, a.atttypmod), a.attisdropped, a.attnotnull, {_OURS.format(xmin="a.xmin")}
FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_class c ON c.oid = a.attrelid
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE a.attnum > 0 AND c.relkind IN ('r', 'p', 'v', 'm', 'f') AND {_USER_NAMESPACE}
"""
DEFAULT_SEQUENCES = """
SELECT d.adrelid::pg_catalog.int8, d.adnum::pg_catalog.int4, dep.refobjid::pg_catalog.int8
FROM pg_catalog.pg_attrdef d
JOIN pg_catalog.pg_depend dep ON dep.classid = 'pg_catalog.pg_attrdef'::pg_catalog.regclass AND dep.objid = d.oid
     AND dep.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass
JOIN pg_catalog.pg_class s ON s.oid = dep.refobjid AND s.relkind = 'S'
"""
CONSTRAINTS = f"""
SELECT k.oid::pg_catalog.int8, k.conrelid::pg_catalog.int8, k.conname::pg_catalog.text, k.contype::pg_catalog.text
FROM pg_catalog.pg_constraint k JOIN pg_catalog.pg_namespace n ON n.oid = k.connamespace
WHERE k.conrelid <> 0 AND {_USER_NAMESPACE}
"""
SCHEMAS = f"SELECT n.nspname::pg_catalog.text FROM pg_catalog.pg_namespace n WHERE {_USER_NAMESPACE}"
ENUMS = """
SELECT t.oid::pg_catalog.int8, n.nspname::pg_catalog.text, t.typname::pg_catalog.text, e.enumlabel::pg_catalog.text
FROM pg_catalog.pg_enum e JOIN pg_catalog.pg_type t ON t.oid = e.enumtypid
JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace
"""
SEQUENCES = """
SELECT s.seqrelid::pg_catalog.int8, s.seqincrement, s.seqmin, s.seqmax, s.seqcycle,
       CASE WHEN pg_catalog.has_sequence_privilege(s.seqrelid, 'SELECT,USAGE')
            THEN pg_catalog.pg_sequence_last_value(s.seqrelid::pg_catalog.regclass) END
FROM pg_catalog.pg_sequence s
"""
#: triggers a user created (not those behind foreign keys), rules (not a view's _RETURN), event triggers
HOOKS = """
SELECT 'trigger', t.oid::pg_catalog.int8, t.tgrelid::pg_catalog.int8, t.tgname::pg_catalog.text
FROM pg_catalog.pg_trigger t WHERE NOT t.tgisinternal
UNION ALL
SELECT 'rule', r.oid::pg_catalog.int8, r.ev_class::pg_catalog.int8, r.rulename::pg_catalog.text
FROM pg_catalog.pg_rewrite r WHERE r.rulename <> '_RETURN'
UNION ALL
SELECT 'event trigger', e.oid::pg_catalog.int8, 0, e.evtname::pg_catalog.text FROM pg_catalog.pg_event_trigger e
"""
#: the role, the transaction, and how many catalog rows this transaction has inserted, updated and deleted so far
SESSION = """
SELECT CURRENT_USER::pg_catalog.text, SESSION_USER::pg_catalog.text, pg_catalog.txid_current_if_assigned(),
       pg_catalog.txid_current_snapshot()::pg_catalog.text,
       pg_catalog.sum(s.n_tup_ins)::pg_catalog.int8, pg_catalog.sum(s.n_tup_upd)::pg_catalog.int8,
       pg_catalog.sum(s.n_tup_del)::pg_catalog.int8
FROM pg_catalog.pg_stat_xact_sys_tables s
"""
WRITES = """
SELECT s.relid::pg_catalog.int8, s.n_tup_ins, s.n_tup_upd, s.n_tup_del FROM pg_catalog.pg_stat_xact_user_tables s
WHERE s.n_tup_ins > 0 OR s.n_tup_upd > 0 OR s.n_tup_del > 0
"""


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
class Column:
    name: str
    type: str  # format_type
    dropped: bool
    not_null: bool
    changed_here: bool  # its catalog row was written by this transaction


@dataclass(frozen=True)
class SequenceState:
    increment: int
    minimum: int
    maximum: int
    cycles: bool
    last: int | None


@dataclass(frozen=True)
class Writes:
    """Rows this transaction inserted, updated and deleted in one table (pg_stat_xact_user_tables)."""

    inserted: int = 0
    updated: int = 0
    deleted: int = 0


@dataclass
class Catalog:
    """The user-visible catalog of one database, at one moment of a transaction."""

    relations: dict[int, Relation] = field(default_factory=dict)
    columns: dict[tuple[int, int], Column] = field(default_factory=dict)
    default_sequences: dict[tuple[int, int], frozenset[int]] = field(default_factory=dict)
    constraints: dict[int, tuple[int, str, str]] = field(default_factory=dict)  # relation, name, type
    schemas: set[str] = field(default_factory=set)
    enums: dict[int, tuple[str, set[str]]] = field(default_factory=dict)  # type label, values
    sequences: dict[int, SequenceState] = field(default_factory=dict)
    hooks: dict[int, tuple[str, int, str]] = field(default_factory=dict)  # kind, relation, name
    role: str = ""  # current_user
    session_role: str = ""
    transaction: int | None = None  # txid_current_if_assigned()
    with_rows: set[int] = field(default_factory=set)  # tables holding at least one row
    writes: dict[int, Writes] = field(default_factory=dict)
    #: tables that held rows at the first snapshot and still hold one this transaction did not write
    old_rows_left: set[int] = field(default_factory=set)
    row_counts: dict[int, int] = field(default_factory=dict)  # counted only where every old row is gone
    #: catalog rows this transaction inserted, updated and deleted before this reading (pg_stat_xact_sys_tables)
    catalog_writes: tuple[int, int, int] = (0, 0, 0)
    snapshot: str = ""  # txid_current_snapshot() when it was read: which transactions had ended
    #: how much of an earlier reading it reuses: "" (none), "objects" (same transaction), "all" (next transaction)
    reused: str = ""


class CatalogUnreadable(Exception):
    """The catalog could not be read on the migration connection (the revision cannot be judged)."""


@contextmanager
def pinned(connection: Connection) -> Iterator[Any]:
    """A driver cursor on ``connection`` with search_path = pg_catalog, pg_temp, restored afterwards."""
    local = connection.in_transaction() and \
        connection.get_execution_options().get("isolation_level") != "AUTOCOMMIT"
    flag = "true" if local else "false"
    cursor = connection.connection.cursor()
    try:
        cursor.execute("SELECT pg_catalog.current_setting('search_path'), "
                       f"pg_catalog.set_config('search_path', 'pg_catalog, pg_temp', {flag})")
        saved = rows_of(cursor)[0][0]
        try:
            yield cursor
        finally:
            cursor.execute(f"SELECT pg_catalog.set_config('search_path', {_literal(saved)}, {flag})")
    finally:
        cursor.close()


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def rows(cursor: Any, sql: str) -> list[tuple[Any, ...]]:
    cursor.execute(sql)
    return rows_of(cursor)


def rows_of(cursor: Any) -> list[tuple[Any, ...]]:
    return [tuple(row) for row in cursor.fetchall()]


def read(connection: Connection, since: Catalog | None = None, *, previous: Catalog | None = None,
         ours: frozenset[int] = frozenset()) -> Catalog:
    """The catalog as ``connection`` sees it now; with ``since``, also which of its rows are still there.

    ``previous``: an earlier reading, reused where nothing it holds can have changed since:
    - in the same transaction, when this transaction has written no catalog row since (its
      pg_stat_xact_sys_tables counts are the same): its objects are taken from it, and what moves without a
      catalog write is read again (rows, writes, sequence values, the role). The reading at a revision's
      commit, after a body that did all the DDL, costs a few queries instead of the whole catalog;
    - in a later transaction (``since`` None), when the transaction it was read in has committed and no
      other transaction of the server has ended since (the server's transaction snapshots say so), except
      ``ours``: the transactions of safemigrate's own journal connection in between (its attempt row, in
      ``safemigrate_journal``, which no revision is judged on): the database is what that reading saw
      (plus what this transaction wrote, which stays a change since it), so only sequence values, the
      write counts and the role are read again. A busy server fails the test and gets a whole reading.
    """
    try:
        with pinned(connection) as cursor:
            return _read(cursor, since, previous, ours)
    except Exception as exc:
        raise CatalogUnreadable(f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc) else ''}") \
            from exc


def _read(cursor: Any, since: Catalog | None, previous: Catalog | None = None,
          ours: frozenset[int] = frozenset()) -> Catalog:
    catalog = Catalog()
    role, session_role, transaction, snapshot, *written = rows(cursor, SESSION)[0]
    catalog.role, catalog.session_role, catalog.transaction = role, session_role, transaction
    catalog.snapshot = snapshot
    catalog.catalog_writes = (int(written[0] or 0), int(written[1] or 0), int(written[2] or 0))
    if previous is not None and since is None and _nothing_ended_since(cursor, previous, catalog, ours):
        _objects_of(previous, catalog)
        catalog.columns = {key: replace(column, changed_here=False) if column.changed_here else column
                           for key, column in catalog.columns.items()}
        _read_sequences(cursor, catalog)
        # read again: the counts of the backend's earlier transactions not yet flushed to the statistics are
        # in them (PostgreSQL 15), and a revision's writes are the difference from these
        _read_writes(cursor, catalog)
        catalog.with_rows = set(previous.with_rows)
        if ours:  # the journal's rows: its table holds one now, whichever schema it is in (counted in all)
            catalog.with_rows |= {oid for oid, r in catalog.relations.items() if r.name == JOURNAL_TABLE}
        catalog.old_rows_left = set(catalog.with_rows)  # every row there is older than this transaction
        catalog.reused = "all"
        return catalog
    if previous is not None and transaction is not None and previous.transaction == transaction \
            and previous.catalog_writes == catalog.catalog_writes:
        _objects_of(previous, catalog)
        catalog.reused = "objects"
    else:
        _read_objects(cursor, catalog)
    _read_sequences(cursor, catalog)
    _read_writes(cursor, catalog)
    _rows(cursor, catalog, since)
    return catalog


def _nothing_ended_since(cursor: Any, previous: Catalog, now: Catalog, ours: frozenset[int] = frozenset()) -> bool:
    """Whether the database is exactly what ``previous`` saw, plus its own transaction, committed.

    ``previous`` was read in its transaction T; ``now`` is read in a later one. Nothing else happened in
    between when: no other transaction had an id between the oldest running one and T when ``previous``
    was read (its snapshot's xmax is T), T committed, and since then the only transactions that ended are
    T and ``ours`` (every id after T below ``now``'s xmax is one of ``ours``; the same ones still run; a
    subtransaction of T that wrote has an id of its own, unknown here, and makes the caller read again). A
    change needs a transaction id and becomes visible when that transaction ends, so none can have become
    visible, except what ``now``'s own transaction wrote already (a listener that runs as it begins): that
    stays to be seen as a change since ``previous``. Anything else, and the caller reads everything.
    """
    if previous.transaction is None or now.transaction == previous.transaction or now.role != previous.role \
            or now.session_role != previous.session_role:
        return False
    then_xmax, then_running = _parse_snapshot(previous.snapshot)
    now_xmax, now_running = _parse_snapshot(now.snapshot)
    if then_xmax != previous.transaction or now_xmax is None or now_running != then_running \
            or not 0 < now_xmax - previous.transaction <= len(ours) + 1 \
            or not set(range(previous.transaction + 1, now_xmax)) <= ours:
        return False
    status = rows(cursor, f"SELECT pg_catalog.txid_status({int(previous.transaction)}::pg_catalog.int8)")[0][0]
    return bool(status == "committed")


def _parse_snapshot(text: str) -> tuple[int | None, frozenset[int]]:
    """(xmax, the ids still running) of a txid_current_snapshot() text ``xmin:xmax:id,id``."""
    try:
        _, xmax, running = text.split(":")
        return int(xmax), frozenset(int(x) for x in running.split(",") if x)
    except (AttributeError, ValueError):
        return None, frozenset()


def _read_writes(cursor: Any, catalog: Catalog) -> None:
    catalog.writes = {relid: Writes(int(ins or 0), int(upd or 0), int(dele or 0))
                      for relid, ins, upd, dele in rows(cursor, WRITES) if relid in catalog.relations}


def _read_sequences(cursor: Any, catalog: Catalog) -> None:
    for oid, increment, minimum, maximum, cycles, last in rows(cursor, SEQUENCES):
        if oid in catalog.relations:
            catalog.sequences[oid] = SequenceState(increment, minimum, maximum, bool(cycles), last)


def _objects_of(previous: Catalog, catalog: Catalog) -> None:
    """The catalog objects of ``previous`` (unchanged since: this transaction wrote no catalog row)."""
    catalog.relations = dict(previous.relations)
    catalog.columns = dict(previous.columns)
    catalog.default_sequences = dict(previous.default_sequences)
    catalog.constraints = dict(previous.constraints)
    catalog.schemas = set(previous.schemas)
    catalog.enums = {oid: (label, set(values)) for oid, (label, values) in previous.enums.items()}
    catalog.hooks = dict(previous.hooks)


def _read_objects(cursor: Any, catalog: Catalog) -> None:
    for oid, schema, name, kind, filenode, owner, table in rows(cursor, RELATIONS):
        catalog.relations[oid] = Relation(oid, schema, name, kind, filenode, owner, table)
    for relid, number, name, type_, dropped, not_null, ours in rows(cursor, COLUMNS):
        catalog.columns[(relid, number)] = Column(name, type_, dropped, not_null, bool(ours))
    uses: dict[tuple[int, int], set[int]] = {}
    for relid, number, sequence in rows(cursor, DEFAULT_SEQUENCES):
        uses.setdefault((relid, number), set()).add(sequence)
    catalog.default_sequences = {key: frozenset(value) for key, value in uses.items()}
    for oid, relid, name, kind in rows(cursor, CONSTRAINTS):
        catalog.constraints[oid] = (relid, name, kind)
    catalog.schemas = {row[0] for row in rows(cursor, SCHEMAS)}
    for oid, schema, name, label in rows(cursor, ENUMS):
        type_label = name if schema == "public" else f"{schema}.{name}"
        catalog.enums.setdefault(oid, (type_label, set()))[1].add(label)
    for kind, oid, relid, name in rows(cursor, HOOKS):
        if kind == "event trigger" or relid in catalog.relations:
            catalog.hooks[oid] = (kind, relid, name)


def _rows(cursor: Any, catalog: Catalog, since: Catalog | None) -> None:
    """Which tables hold rows, and (against ``since``) which still hold a row from before this transaction."""
    tables = [r for r in catalog.relations.values() if r.kind in {"r", "p"}]
    if not tables:
        return
    oids = ", ".join(str(t.oid) for t in tables)
    # A table whose main fork has no pages holds no row, committed or not: no probe needed (most tables of a
    # database being built; the probes of 300 empty tables cost ~140 ms per reading, three readings a revision).
    stored = {row[0] for row in rows(cursor, (
        f"SELECT c.oid::pg_catalog.int8 FROM pg_catalog.pg_class c WHERE c.oid IN ({oids}) "
        "AND pg_catalog.has_table_privilege(c.oid, 'SELECT') AND pg_catalog.pg_relation_size(c.oid) > 0"))}
    probes = []
    for table in tables:
        if table.oid not in stored:
            continue
        written = catalog.writes.get(table.oid, Writes())
        earlier = since.relations.get(table.oid) if since is not None else None
        touched = since is not None and table.oid in since.with_rows and catalog.transaction is not None and (
            written.updated or written.deleted or (earlier is not None and earlier.filenode != table.filenode))
        if touched:
            probes.append(f"SELECT {table.oid}::pg_catalog.int8, EXISTS (SELECT 1 FROM ONLY {_quoted(table)}), "
                          f"EXISTS (SELECT 1 FROM ONLY {_quoted(table)} WHERE pg_catalog.age(xmin) > 0), "
                          f"(SELECT pg_catalog.count(*) FROM ONLY {_quoted(table)})")
        else:
            probes.append(f"SELECT {table.oid}::pg_catalog.int8, EXISTS (SELECT 1 FROM ONLY {_quoted(table)}), "
                          "NULL::pg_catalog.bool, NULL::pg_catalog.int8")
    if not probes:
        return
    for oid, any_row, old_row, count in rows(cursor, " UNION ALL ".join(probes)):
        if any_row:
            catalog.with_rows.add(oid)
        if old_row is None:
            if any_row:
                catalog.old_rows_left.add(oid)
            continue
        if old_row:
            catalog.old_rows_left.add(oid)
        catalog.row_counts[oid] = int(count)


def _quoted(relation: Relation) -> str:
    return '"' + relation.schema.replace('"', '""') + '"."' + relation.name.replace('"', '""') + '"'
