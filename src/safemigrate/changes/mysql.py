"""Expand–contract on MySQL and MariaDB: what the server must allow, and the SQL of each step.

MySQL and MariaDB have no transactional DDL, no ``CHECK ... NOT VALID`` and no
PL/pgSQL, but they have ``BEFORE INSERT`` / ``BEFORE UPDATE`` triggers that set
``NEW.column``, and online ``ALTER TABLE ... ALGORITHM=INPLACE, LOCK=NONE``
(writes go on while it runs). That is enough for the kinds whose old and new
shape live in one row: rename-column, set-not-null and drop-column. A type
change needs its ``--using`` / ``--down`` expressions rewritten to read ``NEW.``
columns, and a rename-table two tables that write each other from their
triggers (MySQL refuses a trigger that writes back to the table whose statement
fired it, error 1442): both are refused, by name.

What the server must allow, checked before anything is written
(:func:`server_problems`): a version with several triggers per event and
timing on one table (MariaDB 10.2.3, MySQL 5.7.2: before, a table's existing
trigger would have to be replaced), the ``TRIGGER`` privilege on the table,
and, with binary logging on, ``log_bin_trust_function_creators = 1`` or the
``SUPER`` privilege (the server refuses ``CREATE TRIGGER`` otherwise).

Each DDL statement commits on its own. The contract therefore makes the old
column nullable before it drops the triggers, so a write of the new version
between the two statements does not fail on the old column's NOT NULL.
"""

from __future__ import annotations

import re

from sqlalchemy import text
from sqlalchemy.engine import Connection

from safemigrate.changes.sql import DROP_COLUMN, RENAME_COLUMN, SET_NOT_NULL, object_name
from safemigrate.state.changes import ChangePlan

#: The kinds written for MySQL/MariaDB; the others are refused with :data:`REFUSED`'s reason.
KINDS = (RENAME_COLUMN, SET_NOT_NULL, DROP_COLUMN)
REFUSED = {
    "change-type": "its --using and --down expressions would have to be rewritten to read the NEW row in a "
                   "MySQL trigger, which safemigrate does not do yet",
    "rename-table": "keeping two tables in step needs a trigger on each that writes the other, and MySQL/MariaDB "
                    "refuse a trigger that writes back to the table whose statement fired it (error 1442)",
}
#: Several triggers for one event and timing on a table: MariaDB 10.2.3, MySQL 5.7.2.
MIN_MARIADB = (10, 2, 3)
MIN_MYSQL = (5, 7, 2)
_ONLINE = ", ALGORITHM=INPLACE, LOCK=NONE"


def q(identifier: str) -> str:
    """A MySQL identifier, always quoted."""
    return "`" + identifier.replace("`", "``") + "`"


def version_of(raw: str) -> tuple[tuple[int, ...], bool]:
    """(version, is MariaDB) from ``SELECT VERSION()`` (``10.11.19-MariaDB-0+deb12u1``, ``8.0.36``)."""
    numbers = tuple(int(n) for n in re.findall(r"\d+", raw.split("-", 1)[0])[:3])
    return numbers, "mariadb" in raw.lower()


_GRANTEE = ("CONCAT('''', SUBSTRING_INDEX(CURRENT_USER(), '@', 1), '''@''', "
            "SUBSTRING_INDEX(CURRENT_USER(), '@', -1), '''')")
_PRIVILEGE = f"""
SELECT COUNT(*) FROM (
  SELECT PRIVILEGE_TYPE FROM information_schema.USER_PRIVILEGES WHERE GRANTEE = {_GRANTEE}
  UNION ALL SELECT PRIVILEGE_TYPE FROM information_schema.SCHEMA_PRIVILEGES
    WHERE GRANTEE = {_GRANTEE} AND TABLE_SCHEMA = DATABASE()
  UNION ALL SELECT PRIVILEGE_TYPE FROM information_schema.TABLE_PRIVILEGES
    WHERE GRANTEE = {_GRANTEE} AND TABLE_SCHEMA = DATABASE() AND TABLE_NAME = :table
) AS p WHERE PRIVILEGE_TYPE = :privilege
"""
_TRIGGERS = """
SELECT TRIGGER_NAME, ACTION_TIMING, EVENT_MANIPULATION FROM information_schema.TRIGGERS
WHERE EVENT_OBJECT_SCHEMA = DATABASE() AND EVENT_OBJECT_TABLE = :table ORDER BY TRIGGER_NAME
"""


def server_problems(conn: Connection, table: str, kind: str) -> list[str]:
    """What this server or this role lacks for ``kind`` on ``table`` (empty: it can be written)."""
    if kind in REFUSED:
        return [f"{kind} is not written for MySQL/MariaDB: {REFUSED[kind]}"]
    problems: list[str] = []
    raw = str(conn.execute(text("SELECT VERSION()")).scalar())
    version, mariadb = version_of(raw)
    needed = MIN_MARIADB if mariadb else MIN_MYSQL
    if kind != DROP_COLUMN and version < needed:
        existing = [f"{name} ({timing} {event})" for name, timing, event in conn.execute(text(_TRIGGERS),
                                                                                      {"table": table})
                    if timing == "BEFORE" and event in ("INSERT", "UPDATE")]
        problems.append(f"{'MariaDB' if mariadb else 'MySQL'} {raw} allows one trigger per event and timing on a "
                        f"table (several since {'.'.join(map(str, needed))})"
                        + (f", and {table} has {', '.join(existing)} already" if existing else
                           "; safemigrate needs that version so that a table's own triggers never stop it"))
    if kind == DROP_COLUMN:
        return problems

    def has(privilege: str) -> bool:
        return bool(conn.execute(text(_PRIVILEGE), {"table": table, "privilege": privilege}).scalar())

    if not has("TRIGGER"):
        problems.append(f"the TRIGGER privilege on {table} (GRANT TRIGGER ON <database>.{table} TO <the migration "
                        "role>)")
    log_bin, trusted = conn.execute(text("SELECT @@log_bin, @@log_bin_trust_function_creators")).one()
    if int(log_bin or 0) and not int(trusted or 0) and not has("SUPER"):
        problems.append("binary logging is on and log_bin_trust_function_creators = 0, so CREATE TRIGGER needs the "
                        "SUPER privilege (or SET GLOBAL log_bin_trust_function_creators = 1)")
    return problems


_COLUMN = """
SELECT COLUMN_TYPE, IS_NULLABLE = 'NO', COLUMN_DEFAULT, EXTRA, CHARACTER_SET_NAME, COLLATION_NAME
FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = :table AND COLUMN_NAME = :column
"""
_PRIMARY_KEY = """
SELECT COLUMN_NAME FROM information_schema.STATISTICS
WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = :table AND INDEX_NAME = 'PRIMARY' ORDER BY SEQ_IN_INDEX
"""
_INDEXES = """
SELECT INDEX_NAME, NON_UNIQUE = 0, INDEX_TYPE, COLUMN_NAME, SUB_PART, SEQ_IN_INDEX FROM information_schema.STATISTICS
WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = :table
  AND INDEX_NAME IN (SELECT INDEX_NAME FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = DATABASE()
                     AND TABLE_NAME = :table AND COLUMN_NAME = :column)
ORDER BY INDEX_NAME, SEQ_IN_INDEX
"""
_FOREIGN_KEYS = """
SELECT CONSTRAINT_NAME, TABLE_NAME FROM information_schema.KEY_COLUMN_USAGE
WHERE TABLE_SCHEMA = DATABASE() AND REFERENCED_TABLE_NAME IS NOT NULL
  AND ((TABLE_NAME = :table AND COLUMN_NAME = :column)
       OR (REFERENCED_TABLE_NAME = :table AND REFERENCED_COLUMN_NAME = :column))
ORDER BY CONSTRAINT_NAME
"""
_GENERATED = """
SELECT COLUMN_NAME FROM information_schema.COLUMNS
WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = :table AND GENERATION_EXPRESSION IS NOT NULL
  AND GENERATION_EXPRESSION <> '' ORDER BY COLUMN_NAME
"""
_VIEWS = "SELECT TABLE_NAME, VIEW_DEFINITION FROM information_schema.VIEWS WHERE TABLE_SCHEMA = DATABASE()"


def column(conn: Connection, table: str, name: str) -> tuple[str, bool, str | None, list[str]] | None:
    """(definition: type, character set, collation; NOT NULL; default as SQL; primary key) or None."""
    found = conn.execute(text(_COLUMN), {"table": table, "column": name}).first()
    if found is None:
        return None
    column_type, not_null, default, extra, charset, collation = found
    definition = str(column_type) + (f" CHARACTER SET {charset}" if charset else "") \
        + (f" COLLATE {collation}" if collation else "")
    if extra and "on update" in str(extra).lower():
        definition += " " + str(extra)[str(extra).lower().index("on update"):]
    keys = [k for (k,) in conn.execute(text(_PRIMARY_KEY), {"table": table})]
    default = None if default is None or str(default).upper() == "NULL" else str(default)
    return definition, bool(not_null), default, keys


def dependents(conn: Connection, table: str, name: str, new_column: str | None) -> tuple[list[dict], list[str]]:
    """(the indexes a rename carries to the new column, what stops the change)."""
    import sqlglot
    from sqlglot import exp

    carried: dict[str, dict] = {}
    blockers: list[str] = []
    for index, unique, kind, col, sub_part, _ in conn.execute(text(_INDEXES), {"table": table, "column": name}):
        if index == "PRIMARY":
            blockers.append(f"primary key of {table}")
        elif new_column is None:
            continue
        elif sub_part is not None or kind != "BTREE":
            blockers.append(f"index {index} (a prefix, full-text or spatial index)")
        else:
            entry = carried.setdefault(index, {"name": index, "new_name": _renamed(index, name, new_column),
                                               "unique": bool(unique), "method": "BTREE", "columns": []})
            entry["columns"].append(new_column if col == name else col)
    for constraint, owner in conn.execute(text(_FOREIGN_KEYS), {"table": table, "column": name}):
        blockers.append(f"foreign key {constraint}" + (f" on {owner}" if owner != table else ""))
    for (generated,) in conn.execute(text(_GENERATED), {"table": table}):
        blockers.append(f"generated column {table}.{generated}")
    for view, definition in conn.execute(text(_VIEWS)):
        try:
            tables = {t.name.lower() for t in sqlglot.parse_one(str(definition), read="mysql").find_all(exp.Table)}
        except sqlglot.errors.ParseError:
            tables = {table.lower()}  # unreadable: counted as using it
        if table.lower() in tables:
            blockers.append(f"view {view}")
    blocked = {b.split(" ", 1)[1].split(" ", 1)[0] for b in blockers if b.startswith("index ")}
    return [i for i in carried.values() if i["name"] not in blocked], blockers


def _renamed(name: str, old: str, new: str) -> str:
    return (name.replace(old, new) if old in name else f"{name}_{new}")[:64]


def triggers(plan: ChangePlan) -> list[tuple[str, str]]:
    """(name, CREATE TRIGGER) for BEFORE INSERT and BEFORE UPDATE: MySQL has no INSERT OR UPDATE trigger.

    Each body is one ``SET`` statement (its assignments run left to right): no ``BEGIN ... END`` with
    semicolons inside, so the statement is one statement to every parser, the guard's included.
    """
    table = q(plan.table)
    if plan.kind == RENAME_COLUMN:
        old, new = f"NEW.{q(plan.column)}", f"NEW.{q(plan.new_column or '')}"
        before = f"OLD.{q(plan.new_column or '')}"
        # insert: a row written with only the old column gets the new one, and the other way round
        on_insert = f"SET {old} = IF({new} IS NULL, {old}, {new}), {new} = IF({new} IS NULL, {old}, {new})"
        # update: the version that changed the new column wins; otherwise the new one follows the old one
        on_update = (f"SET {old} = IF({new} <=> {before}, {old}, {new}), "
                     f"{new} = IF({new} <=> {before}, {old}, {new})")
    else:
        target = f"NEW.{q(plan.column)}"
        on_insert = on_update = f"SET {target} = COALESCE({target}, {plan.fill})"
    return [(name, f"CREATE TRIGGER {q(name)} BEFORE {event} ON {table} FOR EACH ROW {body}")
            for name, event, body in ((trigger_name(plan, "INSERT"), "INSERT", on_insert),
                                      (trigger_name(plan, "UPDATE"), "UPDATE", on_update))]


def trigger_name(plan: ChangePlan, event: str) -> str:
    return object_name(plan, "_ins" if event == "INSERT" else "_upd")


def drop_triggers(plan: ChangePlan) -> list[str]:
    return [f"DROP TRIGGER IF EXISTS {q(trigger_name(plan, event))}" for event in ("INSERT", "UPDATE")]


def _definition(plan: ChangePlan, not_null: bool, default: str | None = None) -> str:
    return plan.column_definition + (" NOT NULL" if not_null else " NULL") \
        + (f" DEFAULT {default}" if default is not None else "")


def expand(plan: ChangePlan) -> tuple[list[str], list[str], list[tuple[str, str]]]:
    """(statements up, statements down, (rule, target) sign-offs) of the expand revision; the down statements
    leave the new column to the caller (its drop is signed off in the downgrade)."""
    table = q(plan.table)
    if plan.kind == DROP_COLUMN:
        if not plan.not_null:
            return [], [], []
        return ([f"ALTER TABLE {table} MODIFY {q(plan.column)} {_definition(plan, False, plan.default)}{_ONLINE}"],
                [], [])
    up: list[str] = []
    down: list[str] = list(drop_triggers(plan))
    if plan.kind == RENAME_COLUMN:
        new = q(plan.new_column or "")
        up.append(f"ALTER TABLE {table} ADD COLUMN {new} {_definition(plan, False)}{_ONLINE}")
    up += [statement for name, create in triggers(plan) for statement in (f"DROP TRIGGER IF EXISTS {q(name)}",
                                                                           create)]
    if plan.kind == RENAME_COLUMN:
        for index in plan.indexes:
            unique = "UNIQUE " if index["unique"] else ""
            columns = ", ".join(q(str(c)) for c in index["columns"])  # type: ignore[attr-defined]
            up.append(f"CREATE {unique}INDEX {q(str(index['new_name']))} ON {table} ({columns}){_ONLINE}")
    return up, down, [("create-trigger-or-event", plan.table)]


def contract(plan: ChangePlan) -> tuple[list[str], list[tuple[str, str]]]:
    """(statements, sign-offs) of the contract revision; each commits on its own."""
    table, old = q(plan.table), q(plan.column)
    if plan.kind == DROP_COLUMN:
        return [f"ALTER TABLE {table} DROP COLUMN {old}{_ONLINE}"], [("drop-column", f"{plan.table}.{plan.column}")]
    if plan.kind == SET_NOT_NULL:  # NOT NULL first, while the triggers still fill what a writer leaves NULL
        return ([f"ALTER TABLE {table} MODIFY {old} {_definition(plan, True, plan.default)}{_ONLINE}",
                 *drop_triggers(plan)], [])
    new = q(plan.new_column or "")
    return ([f"ALTER TABLE {table} MODIFY {new} {_definition(plan, plan.not_null, plan.default)}, "
             f"MODIFY {old} {_definition(plan, False)}{_ONLINE}",
             *drop_triggers(plan),
             f"ALTER TABLE {table} DROP COLUMN {old}{_ONLINE}"],
            [("drop-column", f"{plan.table}.{plan.column}")])


# -- backfill and phase ---------------------------------------------------------------------------------------

def needs_work(plan: ChangePlan) -> str:
    if plan.kind == RENAME_COLUMN:
        return f"NOT ({q(plan.new_column or '')} <=> {q(plan.column)})"
    return f"{q(plan.column)} IS NULL"


def backfill_set(plan: ChangePlan) -> str:
    if plan.kind == RENAME_COLUMN:
        return f"{q(plan.new_column or '')} = {q(plan.column)}"
    return f"{q(plan.column)} = {plan.fill}"


def batch_keys(plan: ChangePlan, first: bool) -> str:
    """The batch's last key and how many keys it holds (a keyset slice of the primary key, nothing locked)."""
    pk, table = q(plan.primary_key), q(plan.table)
    after = "" if first else f"{pk} > :after AND "
    return (f"SELECT MAX(k), COUNT(*) FROM (SELECT {pk} AS k FROM {table} WHERE {after}{pk} <= :end "
            f"ORDER BY {pk} LIMIT :size) AS batch")


def batch_update(plan: ChangePlan, first: bool) -> str:
    """The rows of the batch that still need it; run READ COMMITTED, it locks only the rows it writes."""
    pk, table = q(plan.primary_key), q(plan.table)
    after = "" if first else f"{pk} > :after AND "
    return f"UPDATE {table} SET {backfill_set(plan)} WHERE {after}{pk} <= :last AND {needs_work(plan)}"


def verify(plan: ChangePlan) -> str:
    return f"SELECT COUNT(*) FROM {q(plan.table)} WHERE {needs_work(plan)}"


def end_key(plan: ChangePlan) -> str:
    return f"SELECT MAX({q(plan.primary_key)}) FROM {q(plan.table)}"


CATALOG = """
SELECT
  (SELECT COUNT(*) FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = :table
     AND COLUMN_NAME = :column),
  (SELECT COUNT(*) FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = :table
     AND COLUMN_NAME = :new_column),
  (SELECT COUNT(*) FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = DATABASE() AND TRIGGER_NAME = :trigger),
  (SELECT MAX(IS_NULLABLE = 'NO') FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE()
     AND TABLE_NAME = :table AND COLUMN_NAME = :column)
"""
