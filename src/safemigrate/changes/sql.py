"""The SQL of each change kind: expand, contract, backfill batch and verification, for PostgreSQL.

Only plain DDL and one PL/pgSQL trigger function per change: no view, no
``search_path`` switch, no event trigger, nothing a role that owns its tables
cannot run. The trigger keeps the old and the new shape in step in both
directions, so application versions on either side of a deploy read and write
the same rows.
"""

from __future__ import annotations

import hashlib

from safemigrate.state.changes import TABLE as CHANGES_TABLE
from safemigrate.state.changes import ChangePlan

RENAME_COLUMN = "rename-column"
DROP_COLUMN = "drop-column"
SET_NOT_NULL = "set-not-null"
CHANGE_TYPE = "change-type"
RENAME_TABLE = "rename-table"
KINDS = (RENAME_COLUMN, DROP_COLUMN, SET_NOT_NULL, CHANGE_TYPE, RENAME_TABLE)
#: The kinds that add a new column beside the old one and keep both in step.
TWO_COLUMNS = (RENAME_COLUMN, CHANGE_TYPE)

_MAX_IDENTIFIER = 63


def q(identifier: str) -> str:
    """A PostgreSQL identifier, always quoted (names from the user's schema may be keywords or mixed case)."""
    return '"' + identifier.replace('"', '""') + '"'


def literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def object_name(plan: ChangePlan, suffix: str = "") -> str:
    """``safemigrate_chg_<name><suffix>``, within PostgreSQL's 63 bytes (a hash keeps long names distinct)."""
    name = f"safemigrate_chg_{plan.name}{suffix}"
    if len(name.encode()) <= _MAX_IDENTIFIER:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:8]
    return f"{name[: _MAX_IDENTIFIER - 9]}_{digest}"


def check_name(plan: ChangePlan) -> str:
    return object_name(plan, "_nn")


def trigger_function(plan: ChangePlan) -> str:
    fn = q(object_name(plan))
    if plan.kind in TWO_COLUMNS:
        old, new = q(plan.column), q(plan.new_column or "")
        to_new, to_old = converted(plan, "NEW.")
        # The old column is written only when the new value is not what the old one already converts to, so
        # the backfill (which writes the new column from the old one) never rewrites the old column.
        body = (
            "BEGIN\n"
            "  IF TG_OP = 'INSERT' THEN\n"
            f"    IF NEW.{new} IS NULL THEN NEW.{new} := {to_new};\n"
            f"    ELSIF NEW.{new} IS DISTINCT FROM {to_new} THEN NEW.{old} := {to_old};\n"
            "    END IF;\n"
            f"  ELSIF NEW.{new} IS DISTINCT FROM OLD.{new} THEN\n"
            f"    IF NEW.{new} IS DISTINCT FROM {to_new} THEN NEW.{old} := {to_old}; END IF;\n"
            f"  ELSIF NEW.{new} IS DISTINCT FROM {to_new} THEN\n"
            f"    NEW.{new} := {to_new};\n"
            "  END IF;\n"
            "  RETURN NEW;\n"
            "END"
        )
    elif plan.kind == SET_NOT_NULL:
        column = q(plan.column)
        body = (
            "BEGIN\n"
            f"  IF NEW.{column} IS NULL THEN NEW.{column} := {plan.fill}; END IF;\n"
            "  RETURN NEW;\n"
            "END"
        )
    else:
        raise ValueError(f"{plan.kind} has no trigger")
    return (f"CREATE FUNCTION {fn}() RETURNS trigger LANGUAGE plpgsql AS $safemigrate$\n"
            f"{body}\n$safemigrate$")


def create_trigger(plan: ChangePlan) -> str:
    name = object_name(plan)
    return (f"CREATE TRIGGER {q(name)} BEFORE INSERT OR UPDATE ON {q(plan.table)} "
            f"FOR EACH ROW EXECUTE FUNCTION {q(name)}()")


def drop_trigger(plan: ChangePlan) -> list[str]:
    name = object_name(plan)
    return [f"DROP TRIGGER IF EXISTS {q(name)} ON {q(plan.table)}", f"DROP FUNCTION IF EXISTS {q(name)}()"]


def converted(plan: ChangePlan, row: str = "") -> tuple[str, str]:
    """The new column's value from the old one, and the old one's from the new, in a trigger (``row`` "NEW.")
    or in a statement on the table (``row`` empty). A type change's --using / --down expressions see the
    whole row (``SELECT NEW.*``), so they are written as on the table."""
    old, new = q(plan.column), q(plan.new_column or "")
    if plan.kind != CHANGE_TYPE:
        return f"{row}{old}", f"{row}{new}"
    to_new, to_old = f"CAST(({plan.using}) AS {plan.new_type})", f"CAST(({plan.down}) AS {plan.column_type})"
    if not row:
        return to_new, to_old
    return (f"(SELECT {to_new} FROM (SELECT {row}*) AS safemigrate_row)",
            f"(SELECT {to_old} FROM (SELECT {row}*) AS safemigrate_row)")


def needs_work(plan: ChangePlan) -> str:
    """The condition of a row the backfill still has to write (and that verification counts)."""
    if plan.kind in TWO_COLUMNS:
        return f"{q(plan.new_column or '')} IS DISTINCT FROM {converted(plan)[0]}"
    if plan.kind == SET_NOT_NULL:
        return f"{q(plan.column)} IS NULL"
    return "false"


def backfill_set(plan: ChangePlan) -> str:
    if plan.kind in TWO_COLUMNS:
        return f"{q(plan.new_column or '')} = {converted(plan)[0]}"
    return f"{q(plan.column)} = {plan.fill}"


#: A batch statement's last column: its time so far in ms, evaluated after the columns before it (the rows
#: written), from the moment the server received it, the clock statement_timeout uses.
ELAPSED_MS = "1000 * extract(epoch FROM clock_timestamp() - statement_timestamp())"


def checkpoint_cte(last_key: str, written: str = "written") -> str:
    """A batch statement's checkpoint (``:name``'s last key, batches and rows) as one more of its CTEs: the
    batch and its checkpoint commit together, in one round trip fewer than a separate UPDATE. ``last_key`` is
    the batch's last key (NULL: nothing scanned, nothing recorded); the key is kept as JSON, as
    ``state.changes.checkpoint`` writes it for MySQL."""
    return (f"checkpoint AS (UPDATE {q(CHANGES_TABLE)} SET last_key = to_json(({last_key}))::text, "
            f"batches = batches + 1, rows_done = rows_done + (SELECT count(*) FROM {written}), updated_at = now() "
            f"WHERE name = :name AND ({last_key}) IS NOT NULL)")


def batch(plan: ChangePlan, first: bool) -> str:
    """One keyset batch: the next ``:size`` keys after ``:after`` up to ``:end``, only the rows that still need it.

    ``:end`` is the largest key when the backfill started: a row inserted later was written with the trigger
    in place, so the backfill ends even while the application inserts without pause.

    The keys are chosen first (an index range scan on the primary key, nothing locked), then the rows among
    them that still differ are locked ``FOR UPDATE SKIP LOCKED`` and written: a row a writer holds is left to
    that writer, whose own write goes through the trigger (verification finds it if the writer rolls back),
    so the batch never waits behind a writer while it holds the rows it already locked, which would make
    every writer of those rows wait in turn. The rows locked are written by their ``ctid`` (a TID scan: a row
    this transaction locked keeps its place), so the lock costs about one index lookup less than it adds.
    The statement checkpoints the batch's last key in the same transaction, and returns it, how many keys it
    scanned and rows it wrote, and how long it took as the server measured it.
    """
    pk, table = q(plan.primary_key), q(plan.table)
    after = "" if first else f"{pk} > :after AND "
    return (f"WITH keys AS (SELECT {pk} AS k FROM {table} WHERE {after}{pk} <= :end ORDER BY {pk} LIMIT :size), "
            f"todo AS (SELECT {table}.ctid AS tid FROM {table} JOIN keys ON {table}.{pk} = keys.k "
            f"WHERE {needs_work(plan)} FOR UPDATE OF {table} SKIP LOCKED), "
            f"written AS (UPDATE {table} SET {backfill_set(plan)} "
            f"WHERE {table}.ctid = ANY (ARRAY(SELECT tid FROM todo)) RETURNING 1), "
            f"{checkpoint_cte('SELECT max(k) FROM keys')} "
            "SELECT (SELECT max(k) FROM keys), (SELECT count(*) FROM keys), (SELECT count(*) FROM written), "
            f"{ELAPSED_MS}")


def verify(plan: ChangePlan) -> str:
    return f"SELECT count(*) FROM {q(plan.table)} WHERE {needs_work(plan)}"


def end_key(plan: ChangePlan) -> str:
    return f"SELECT {q(plan.primary_key)} FROM {q(plan.table)} ORDER BY {q(plan.primary_key)} DESC LIMIT 1"


TABLES = "SELECT to_regclass(:table) IS NOT NULL, to_regclass(:new_table) IS NOT NULL"

CATALOG = """
SELECT
  (SELECT count(*) FROM pg_attribute WHERE attrelid = to_regclass(:table) AND attname = :column
     AND attnum > 0 AND NOT attisdropped) AS has_column,
  (SELECT count(*) FROM pg_attribute WHERE attrelid = to_regclass(:table) AND attname = :new_column
     AND attnum > 0 AND NOT attisdropped) AS has_new,
  (SELECT count(*) FROM pg_trigger WHERE tgrelid = to_regclass(:table) AND tgname = :trigger) AS has_trigger,
  (SELECT bool_or(attnotnull) FROM pg_attribute WHERE attrelid = to_regclass(:table) AND attname = :column
     AND attnum > 0 AND NOT attisdropped) AS not_null
"""
