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
its effect. Beyond drops and renames: rows are matched to the transaction
that wrote them (``xmin``) and to what it inserted, updated and deleted
(``pg_stat_xact_user_tables``), so a table emptied and given a decoy row is
still emptied; a sequence whose increment, bounds or cycling changed, a
column default moved off its sequence, NOT NULL dropped, a column whose
values a ``USING`` expression recomputed, a new trigger, rule or event
trigger, and a switch of role are effects too. The catalog is read by
:mod:`~safemigrate.guard.enforce.pg_snapshot` (pinned ``search_path``, driver
cursor). Rows updated in place are judged by the SQL rules statement by
statement (an UPDATE that rewrites every row may be a backfill of a new
column); a table whose every row was rewritten by a statement the guard did
not see (a raw cursor, a function, a trigger) is an effect
(:func:`unseen_rewrites`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy.engine import Connection

from safemigrate.guard.enforce.pg_snapshot import Catalog, CatalogUnreadable, Relation, Writes, read

__all__ = ["EFFECT_ONLY", "Catalog", "CatalogUnreadable", "Effect", "after_body", "effects", "narrows", "snapshot",
           "unseen_rewrites"]

_KIND = {"r": "table", "p": "table", "v": "view", "m": "materialized view", "S": "sequence", "f": "foreign table",
         "i": "index", "I": "index"}
#: Effects with no SQL rule of their own, and whether they block (the others take their rule's severity).
EFFECT_ONLY = {"drop-view": True, "drop-sequence": True, "alter-sequence-restart": True, "change-owner": True,
               "rename-index": False, "alter-sequence": True, "change-sequence-default": True,
               "create-trigger": True, "set-role": True, "drop-not-null": False, "rewrite-column-values": True,
               "write-after-body": True}
_RULE_FOR_DROP = {"table": "drop-table", "foreign table": "drop-table", "view": "drop-view",
                  "materialized view": "drop-view", "sequence": "drop-sequence", "index": "drop-index"}
#: type changes PostgreSQL makes without rewriting the table: a rewrite with one of them ran a USING expression
_RELABEL = ("character varying", "text", "character")


@dataclass(frozen=True)
class Effect:
    """One destructive thing a revision did, in the words and the rule id the SQL guard uses."""

    rule: str
    target: str  # "table" or "table.column" (schema-qualified outside public): what a sign-off names
    description: str


def snapshot(connection: Connection, since: Catalog | None = None, *, previous: Catalog | None = None,
             ours: frozenset[int] = frozenset()) -> Catalog:
    """The catalog as ``connection`` sees it now (inside the revision's transaction).

    With ``since`` (the snapshot taken when the revision began), the tables this transaction wrote are
    also probed for rows it did not write, so that emptying a table and adding a decoy row is still seen.
    With ``previous`` (an earlier snapshot of the same transaction), objects are taken from it when the
    transaction wrote no catalog row since; ``ours``: transactions of safemigrate's journal that may have
    ended since (:func:`~safemigrate.guard.enforce.pg_snapshot.read`). Raises :class:`CatalogUnreadable` when
    the catalog cannot be read.
    """
    return read(connection, since, previous=previous, ours=ours)


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
        if oid in before.with_rows and old.kind in {"r", "p"}:
            found += _row_effects(old, new, before, after)
    found += _column_effects(before, after)
    found += _constraint_effects(before, after)
    found += _sequence_effects(before, after)
    found += _hook_effects(before, after)
    for schema in sorted(before.schemas - after.schemas):
        found.append(Effect("drop-schema-or-database", schema, f"dropped schema {schema}"))
    for oid, (label, values) in before.enums.items():
        gone = values - after.enums.get(oid, (label, set()))[1]
        if oid in after.enums and gone:
            found.append(Effect("drop-enum-value-or-rename", label, f"removed value(s) {', '.join(sorted(gone))} "
                                f"from enum {label}"))
        elif oid not in after.enums:
            found.append(Effect("drop-enum-value-or-rename", label, f"dropped enum type {label}"))
    if after.role != before.role:
        found.append(Effect("set-role", after.role, f"switched the connection's role from {before.role} to "
                            f"{after.role} (SET ROLE): what it did next ran with other rights than the "
                            "guard read the catalog with"))
    return found


def _row_effects(old: Relation, new: Relation, before: Catalog, after: Catalog) -> list[Effect]:
    """A table that held rows and holds none of them any more (a decoy row inserted since does not count).

    Counts are taken since ``before``: revisions that share one transaction each answer for their own writes.
    """
    if old.oid in after.old_rows_left:
        return []
    now, then = after.writes.get(old.oid, Writes()), before.writes.get(old.oid, Writes())
    inserted, deleted = now.inserted - then.inserted, now.deleted - then.deleted
    remaining = after.row_counts.get(old.oid, 1 if old.oid in after.with_rows else 0)
    if remaining > inserted:
        return []  # every row rewritten in place (an UPDATE, a table rewrite): see _column_effects
    since = f" ({remaining} row(s) inserted since)" if remaining else ""
    if new.filenode != old.filenode:
        return [Effect("truncate", old.label, f"emptied table {old.label} (TRUNCATE): every row is gone{since}")]
    if deleted <= 0:
        return [Effect("delete-without-where", old.label, f"left table {old.label} without any of its rows, "
                       "though this revision's transaction deleted none: another connection deleted them and "
                       "committed while the revision ran")]
    return [Effect("delete-without-where", old.label, f"deleted every row of table {old.label}{since}")]


def unseen_rewrites(before: Catalog, after: Catalog, seen: set[str]) -> list[Effect]:
    """Tables whose every old row this transaction rewrote in place, though no statement the guard saw updates them.

    An UPDATE (or an upsert, a MERGE) that safemigrate saw was judged by the SQL rules, which tell a backfill
    (``WHERE new_column IS NULL``) from an overwrite; one sent through a raw cursor, a function or a trigger
    was not. ``seen``: the lower-case labels of the tables such statements named.
    """
    found: list[Effect] = []
    for oid in before.with_rows:
        old, new = before.relations.get(oid), after.relations.get(oid)
        if old is None or new is None or old.kind not in {"r", "p"} or new.filenode != old.filenode:
            continue  # dropped (judged as such) or rewritten by DDL (a type change: judged by its column)
        if oid in after.old_rows_left or old.label.lower() in seen:
            continue
        now, then = after.writes.get(oid, Writes()), before.writes.get(oid, Writes())
        inserted, updated = now.inserted - then.inserted, now.updated - then.updated
        remaining = after.row_counts.get(oid, 1 if oid in after.with_rows else 0)
        if updated > 0 and remaining > inserted:
            found.append(Effect("update-without-where", old.label, f"rewrote every row of table {old.label} "
                                "through a statement safemigrate did not see (a raw cursor, a function or a trigger)"))
    return found


def after_body(checked: Catalog, now: Catalog, bookkeeping: set[int]) -> list[Effect]:
    """What happened between the end of a revision's body and its commit (version bump, ledger row).

    Only the version table and safemigrate's own tables may change there; anything else ran from a
    listener, a callback, a trigger or a rule, out of the revision's sight and of its sign-offs.
    """
    found = effects(checked, now)
    for oid, written in now.writes.items():
        if oid in bookkeeping:
            continue
        before = checked.writes.get(oid)
        if before is None or written != before:
            label = now.relations[oid].label
            found.append(Effect("write-after-body", label, f"wrote rows of table {label} after its body had "
                                "finished, before its commit (a listener, callback, trigger or rule)"))
    return found


def _constraint_dropped(before: Catalog, after: Catalog, table: int | None, name: str) -> bool:
    return any(relid == table and conname == name and oid not in after.constraints
               for oid, (relid, conname, _) in before.constraints.items())


def _column_effects(before: Catalog, after: Catalog) -> list[Effect]:
    found: list[Effect] = []
    for (relid, number), old in before.columns.items():
        if old.dropped or relid not in after.relations:
            continue  # a dropped table is reported as such
        now = after.columns.get((relid, number))
        if now == old and not old.changed_here \
                and before.default_sequences.get((relid, number)) == after.default_sequences.get((relid, number)):
            continue  # the same column (most of them): nothing below can apply
        table = after.relations[relid]
        if table.kind not in {"r", "p", "f"}:
            continue  # a view's columns change with its definition
        target = f"{before.relations[relid].label}.{old.name}" if relid in before.relations else old.name
        if now is None or now.dropped:
            found.append(Effect("drop-column", target, f"dropped column {target}"))
            continue
        if now.name != old.name:
            found.append(Effect("rename-column", target, f"renamed column {target} to {now.name}"))
        if now.type != old.type and narrows(old.type, now.type):
            found.append(Effect("narrow-column-type", target, f"narrowed column {target} from {old.type} to "
                                f"{now.type}"))
        elif now.changed_here and _rewritten(before, after, relid) and _relabels(old.type, now.type):
            found.append(Effect("rewrite-column-values", target, f"recomputed every value of column {target} "
                                "(ALTER COLUMN ... TYPE ... USING): the old values are gone"))
        if old.not_null and not now.not_null:
            found.append(Effect("drop-not-null", target, f"dropped NOT NULL from column {target}: the "
                                "application may now store rows without it"))
        used = before.default_sequences.get((relid, number), frozenset())
        if used and after.default_sequences.get((relid, number), frozenset()) != used:
            found.append(Effect("change-sequence-default", target, f"changed the default of column {target} away "
                                "from its sequence: new rows get keys from elsewhere, or none"))
    return found


def _rewritten(before: Catalog, after: Catalog, relid: int) -> bool:
    old, new = before.relations.get(relid), after.relations.get(relid)
    return old is not None and new is not None and old.filenode != new.filenode


def _relabels(before: str, after: str) -> bool:
    """Whether PostgreSQL changes ``before`` to ``after`` without computing new values (no rewrite needed)."""
    if before == after:
        return True
    return before.startswith(_RELABEL) and after.startswith(_RELABEL) and not narrows(before, after)


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


def _sequence_effects(before: Catalog, after: Catalog) -> list[Effect]:
    found: list[Effect] = []
    for oid, old in before.sequences.items():
        new = after.sequences.get(oid)
        if new is None or oid not in after.relations:
            continue  # a dropped sequence is reported as such
        name = before.relations[oid].label if oid in before.relations else str(oid)
        if old.last is not None and (new.last is None or new.last < old.last):
            found.append(Effect("alter-sequence-restart", name, f"restarted sequence {name} (from {old.last} to "
                                f"{new.last if new.last is not None else 'its start'}): new rows can collide "
                                "with old keys"))
        changed = [what for what, bad in (
            (f"increment {old.increment} to {new.increment}", new.increment != old.increment),
            ("CYCLE", new.cycles and not old.cycles),
            (f"maximum {old.maximum} to {new.maximum}", new.maximum < old.maximum),
            (f"minimum {old.minimum} to {new.minimum}", new.minimum > old.minimum)) if bad]
        if changed:
            found.append(Effect("alter-sequence", name, f"changed sequence {name} ({', '.join(changed)}): new rows "
                                "can get keys that collide with old ones"))
    return found


def _hook_effects(before: Catalog, after: Catalog) -> list[Effect]:
    """Triggers, rules and event triggers created: code that runs later, on writes nobody reviews."""
    found: list[Effect] = []
    for oid, (kind, relid, name) in after.hooks.items():
        if oid in before.hooks:
            continue
        table = after.relations[relid].label if relid in after.relations else ""
        target = f"{table}.{name}" if table else name
        where = f" on {table}" if table else ""
        found.append(Effect("create-trigger", target, f"created {kind} {name}{where}: it runs SQL on later "
                            "writes, outside any migration the guard watches"))
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
