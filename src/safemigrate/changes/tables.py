"""rename-table: a second table kept in step with the first, row by row, in both directions (PostgreSQL).

The expand revision creates the new table like the old one (columns, defaults,
NOT NULL and CHECK constraints; the primary key, indexes and unique
constraints under the new table's name) and two AFTER triggers, one on each
table, that copy every insert, update and delete to the other. A transaction-local
setting (``safemigrate.syncing``) stops the copy from coming back. Each
trigger function pins the ``search_path`` it was created with
(``SET search_path FROM CURRENT``), so a session's own ``search_path`` never
redirects its writes. The backfill copies the old rows in keyset batches,
locking each batch's rows FOR SHARE so that a row deleted meanwhile is not
copied back to life. The contract moves the sequences the old table owns to the
new one and drops the old table.
"""

from __future__ import annotations

from safemigrate.changes.sql import ELAPSED_MS, checkpoint_cte, object_name, q
from safemigrate.state.changes import ChangePlan

_GUARD = "safemigrate.syncing"


def _cols(plan: ChangePlan, prefix: str = "") -> str:
    return ", ".join(f"{prefix}{q(c)}" for c in plan.columns)


def create_table(plan: ChangePlan) -> list[str]:
    old, new, pk = q(plan.table), q(plan.new_table or ""), q(plan.primary_key)
    statements = [f"CREATE TABLE {new} (LIKE {old} INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING COMMENTS)",
                  f"ALTER TABLE {new} ADD CONSTRAINT {q(_renamed(plan, plan.pk_name or ''))} PRIMARY KEY ({pk})"]
    for index in plan.indexes:
        columns = ", ".join(q(str(c)) for c in index["columns"])  # type: ignore[attr-defined]
        if index.get("constraint"):
            statements.append(f"ALTER TABLE {new} ADD CONSTRAINT {q(str(index['new_constraint']))} "
                              f"UNIQUE ({columns})")
        else:
            unique = "UNIQUE " if index["unique"] else ""
            statements.append(f"CREATE {unique}INDEX {q(str(index['new_name']))} ON {new} "
                              f"USING {index['method']} ({columns})")
    return statements


def _renamed(plan: ChangePlan, name: str) -> str:
    return (name.replace(plan.table, plan.new_table or "") if plan.table in name else f"{plan.new_table}_{name}"
            )[:63]


def sync_function(plan: ChangePlan, reverse: bool) -> tuple[str, str]:
    source, target = (plan.new_table or "", plan.table) if reverse else (plan.table, plan.new_table or "")
    name = object_name(plan, "_rev" if reverse else "")
    pk = q(plan.primary_key)
    updates = ", ".join(f"{q(c)} = EXCLUDED.{q(c)}" for c in plan.columns if c != plan.primary_key)
    body = (
        "BEGIN\n"
        f"  IF current_setting('{_GUARD}', true) = 'on' THEN RETURN NULL; END IF;  -- the copy of a copy\n"
        f"  PERFORM set_config('{_GUARD}', 'on', true);\n"
        "  IF TG_OP <> 'INSERT' THEN\n"
        f"    IF TG_OP = 'DELETE' OR NEW.{pk} IS DISTINCT FROM OLD.{pk} THEN\n"
        f"      DELETE FROM {q(target)} WHERE {pk} = OLD.{pk};\n"
        "    END IF;\n"
        "  END IF;\n"
        "  IF TG_OP <> 'DELETE' THEN\n"
        f"    INSERT INTO {q(target)} ({_cols(plan)}) VALUES ({_cols(plan, 'NEW.')})\n"
        f"      ON CONFLICT ({pk}) DO UPDATE SET {updates};\n"
        "  END IF;\n"
        f"  PERFORM set_config('{_GUARD}', 'off', true);\n"
        "  RETURN NULL;\n"
        "END"
    )
    trigger = (f"CREATE TRIGGER {q(name)} AFTER INSERT OR UPDATE OR DELETE ON {q(source)} "
               f"FOR EACH ROW EXECUTE FUNCTION {q(name)}()")
    return (f"CREATE FUNCTION {q(name)}() RETURNS trigger LANGUAGE plpgsql SET search_path FROM CURRENT "
            f"AS $safemigrate$\n{body}\n$safemigrate$"), trigger


def drop_sync(plan: ChangePlan) -> list[str]:
    statements = []
    for table, suffix in ((plan.table, ""), (plan.new_table or "", "_rev")):
        name = q(object_name(plan, suffix))
        statements += [f"DROP TRIGGER IF EXISTS {name} ON {q(table)}", f"DROP FUNCTION IF EXISTS {name}()"]
    return statements


def batch(plan: ChangePlan, first: bool) -> str:
    """The next ``:size`` rows of the old table after ``:after`` up to ``:end``, locked FOR SHARE, copied
    unless the trigger copied them already (a newer version), and the checkpoint, in one statement."""
    old, new, pk = q(plan.table), q(plan.new_table or ""), q(plan.primary_key)
    after = "" if first else f"{pk} > :after AND "
    return (f"WITH keys AS (SELECT {pk} AS k FROM {old} WHERE {after}{pk} <= :end ORDER BY {pk} LIMIT :size "
            f"FOR SHARE), written AS (INSERT INTO {new} ({_cols(plan)}) SELECT {_cols(plan, 'o.')} FROM {old} AS o "
            f"JOIN keys ON o.{pk} = keys.k ON CONFLICT ({pk}) DO NOTHING RETURNING 1), "
            f"{checkpoint_cte('SELECT k FROM keys ORDER BY k DESC LIMIT 1')} "
            "SELECT (SELECT k FROM keys ORDER BY k DESC LIMIT 1), (SELECT count(*) FROM keys), "
            f"(SELECT count(*) FROM written), {ELAPSED_MS}")


def verify(plan: ChangePlan) -> str:
    """Rows that one table has and the other has not, or has with other values."""
    old, new, pk = q(plan.table), q(plan.new_table or ""), q(plan.primary_key)
    return (f"SELECT count(*) FROM {old} AS o FULL JOIN {new} AS n ON o.{pk} = n.{pk} "
            f"WHERE ROW({_cols(plan, 'o.')}) IS DISTINCT FROM ROW({_cols(plan, 'n.')})")


def contract(plan: ChangePlan) -> list[str]:
    statements = drop_sync(plan)
    for sequence, column in plan.sequences:
        statements.append(f"ALTER SEQUENCE {sequence} OWNED BY {q(plan.new_table or '')}.{q(column)}")
    return [*statements, f"DROP TABLE {q(plan.table)}"]
