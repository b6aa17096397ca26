"""missing-lock-timeout: a statement that waits for a lock blocking reads or writes, with no lock_timeout set."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pglast import ast

from safemigrate.guard.analysis.pg import (
    AlterTableType,
    ConstrType,
    ObjectType,
    alter_commands,
    column_constraints,
    looks_at,
    object_name,
    placed,
    reindex_is_concurrent,
    relation,
    statements_run,
    string_values,
)
from safemigrate.guard.analysis.sql import ParsedStatement
from safemigrate.guard.model import Context, Violation
from safemigrate.guard.registry import rule

ACCESS_EXCLUSIVE = "ACCESS EXCLUSIVE"
SHARE_ROW_EXCLUSIVE = "SHARE ROW EXCLUSIVE"

# ALTER TABLE subcommands that take only SHARE UPDATE EXCLUSIVE, which lets reads and writes go
# on (checked on PostgreSQL 15 in pg_locks); every other one is ACCESS EXCLUSIVE unless listed below.
_SHARE_UPDATE_EXCLUSIVE = {
    AlterTableType.AT_SetStatistics, AlterTableType.AT_SetOptions, AlterTableType.AT_ResetOptions,
    AlterTableType.AT_SetRelOptions, AlterTableType.AT_ResetRelOptions, AlterTableType.AT_ClusterOn,
    AlterTableType.AT_DropCluster, AlterTableType.AT_ValidateConstraint, AlterTableType.AT_AttachPartition,
    AlterTableType.AT_DetachPartitionFinalize,
}
_TRIGGER_TOGGLES = {
    AlterTableType.AT_EnableTrig, AlterTableType.AT_EnableAlwaysTrig, AlterTableType.AT_EnableReplicaTrig,
    AlterTableType.AT_DisableTrig, AlterTableType.AT_EnableTrigAll, AlterTableType.AT_DisableTrigAll,
    AlterTableType.AT_EnableTrigUser, AlterTableType.AT_DisableTrigUser,
}
_TABLES = {ObjectType.OBJECT_TABLE, ObjectType.OBJECT_MATVIEW, ObjectType.OBJECT_FOREIGN_TABLE}
_RENAMED = _TABLES | {ObjectType.OBJECT_COLUMN, ObjectType.OBJECT_TABCONSTRAINT, ObjectType.OBJECT_TRIGGER,
                      ObjectType.OBJECT_POLICY, ObjectType.OBJECT_VIEW}
_DROPPED_ON_TABLE = {ObjectType.OBJECT_TRIGGER, ObjectType.OBJECT_POLICY, ObjectType.OBJECT_RULE}
_KIND_NAMES = {ObjectType.OBJECT_TABLE: "TABLE", ObjectType.OBJECT_MATVIEW: "MATERIALIZED VIEW",
               ObjectType.OBJECT_FOREIGN_TABLE: "FOREIGN TABLE", ObjectType.OBJECT_VIEW: "VIEW"}
_LOCK_MODES = {5: "SHARE", 6: SHARE_ROW_EXCLUSIVE, 7: "EXCLUSIVE", 8: ACCESS_EXCLUSIVE}


@rule("missing-lock-timeout", severity="warning", category="locking",
      summary="A statement that needs a strong table lock runs without lock_timeout")
@looks_at(ast.AlterTableStmt, ast.RenameStmt, ast.DropStmt, ast.TruncateStmt, ast.CreateTrigStmt, ast.CreatePolicyStmt,
          ast.AlterPolicyStmt, ast.RuleStmt, ast.LockStmt, ast.ClusterStmt, ast.VacuumStmt, ast.ReindexStmt,
          ast.RefreshMatViewStmt, ast.CreateStmt)
def check(statement: ParsedStatement, context: Context) -> Iterator[Violation]:
    """ALTER TABLE, DROP TABLE, TRUNCATE, renames, CREATE TRIGGER, adding a foreign key and
    the like need a lock that conflicts with ordinary reads or writes. The statement itself
    may be instant, but it must first wait for every query already using the table; while
    it waits, every later query on the table queues behind it, so one slow report can
    stall all traffic. With ``lock_timeout`` set, the statement gives up instead and the
    migration can be retried. Set it before the statement, or let the runner set it.

    Bad::

        def upgrade():
            op.add_column("orders", sa.Column("note", sa.Text()))

    Good::

        def upgrade():
            op.execute("SET lock_timeout = '5s'")
            op.add_column("orders", sa.Column("note", sa.Text()))
    """
    if context.lock_timeout_set:
        return
    for node, where, ctx in statements_run(statement.node, context):
        if ctx.lock_timeout_set:
            continue
        for verb, table, lock in _locks(node):
            if ctx.is_new_table(table):
                continue
            article = "an" if lock[0] in "AEIOU" else "a"
            blocked = "query" if lock == ACCESS_EXCLUSIVE else "write"
            if verb == "DROP INDEX":
                shown, later = f"the table of index `{table}`", f"every later {blocked} on that table"
            else:
                shown, later = f"`{table}`", f"every later {blocked} on `{table}`"
            yield placed(Violation(
                message=f"This {verb} waits for {article} {lock} lock on {shown} with no lock_timeout: while it "
                        f"waits behind a long-running query, {later} queues behind it.",
                help="Set lock_timeout before it (SET lock_timeout = '5s') so that it gives up instead of stalling "
                     "traffic, and retry the migration when it times out.",
                target=table,
                fix="op.execute(\"SET lock_timeout = '5s'\")",
            ), where)
            break  # one finding per statement


def _locks(node: Any) -> Iterator[tuple[str, str, str]]:
    """(statement kind, table, lock mode) for each strong lock ``node`` waits for."""
    if isinstance(node, ast.AlterTableStmt) and node.objtype in _TABLES:
        yield from _alter_table_locks(node)
    elif isinstance(node, ast.RenameStmt) and node.renameType in _RENAMED and node.relation is not None:
        yield "RENAME", relation(node.relation), ACCESS_EXCLUSIVE
    elif isinstance(node, ast.DropStmt):
        if node.removeType in _TABLES | {ObjectType.OBJECT_VIEW}:
            for obj in node.objects or ():
                kind = _KIND_NAMES[node.removeType]
                yield f"DROP {kind}", object_name(obj), ACCESS_EXCLUSIVE
        elif node.removeType == ObjectType.OBJECT_INDEX and not node.concurrent:
            for obj in node.objects or ():
                yield "DROP INDEX", object_name(obj), ACCESS_EXCLUSIVE
        elif node.removeType in _DROPPED_ON_TABLE:
            for obj in node.objects or ():
                names = string_values(obj) if isinstance(obj, (list, tuple)) else []
                if len(names) >= 2:
                    yield f"DROP {node.removeType.name.split('_', 1)[1]}", ".".join(names[:-1]), ACCESS_EXCLUSIVE
    elif isinstance(node, ast.TruncateStmt):
        for rel in node.relations or ():
            yield "TRUNCATE", relation(rel), ACCESS_EXCLUSIVE
    elif isinstance(node, ast.CreateTrigStmt):
        yield "CREATE TRIGGER", relation(node.relation), SHARE_ROW_EXCLUSIVE
    elif isinstance(node, (ast.CreatePolicyStmt, ast.AlterPolicyStmt)):
        yield "CREATE POLICY" if isinstance(node, ast.CreatePolicyStmt) else "ALTER POLICY", \
            relation(node.table), ACCESS_EXCLUSIVE
    elif isinstance(node, ast.RuleStmt):
        yield "CREATE RULE", relation(node.relation), ACCESS_EXCLUSIVE
    elif isinstance(node, ast.LockStmt) and node.mode in _LOCK_MODES and not node.nowait:
        for rel in node.relations or ():
            yield "LOCK TABLE", relation(rel), _LOCK_MODES[node.mode]
    elif isinstance(node, ast.ClusterStmt) and node.relation is not None:
        yield "CLUSTER", relation(node.relation), ACCESS_EXCLUSIVE
    elif isinstance(node, ast.VacuumStmt) and node.is_vacuumcmd and any(
            isinstance(o, ast.DefElem) and o.defname == "full" for o in node.options or ()):
        for rel in node.rels or ():
            if isinstance(rel, ast.VacuumRelation):
                yield "VACUUM FULL", relation(rel.relation), ACCESS_EXCLUSIVE
    elif isinstance(node, ast.ReindexStmt) and node.relation is not None and not reindex_is_concurrent(node):
        table_lock = node.kind is not None and node.kind.name.endswith("TABLE")
        yield "REINDEX", relation(node.relation), "SHARE" if table_lock else ACCESS_EXCLUSIVE
    elif isinstance(node, ast.RefreshMatViewStmt) and not node.concurrent:
        yield "REFRESH MATERIALIZED VIEW", relation(node.relation), ACCESS_EXCLUSIVE
    elif isinstance(node, ast.CreateStmt):
        for parent in node.inhRelations or ():
            if node.partbound is not None and isinstance(parent, ast.RangeVar):
                yield "CREATE TABLE ... PARTITION OF", relation(parent), ACCESS_EXCLUSIVE
        for referenced in _referenced_tables(node.tableElts):
            yield "CREATE TABLE", referenced, SHARE_ROW_EXCLUSIVE


def _alter_table_locks(node: Any) -> Iterator[tuple[str, str, str]]:
    table = relation(node.relation)
    modes = set()
    for cmd in alter_commands(node):
        if cmd.subtype in _SHARE_UPDATE_EXCLUSIVE:
            continue
        if cmd.subtype == AlterTableType.AT_DetachPartition and getattr(cmd.def_, "concurrent", False):
            continue
        if cmd.subtype in _TRIGGER_TOGGLES or (
                cmd.subtype == AlterTableType.AT_AddConstraint and isinstance(cmd.def_, ast.Constraint)
                and cmd.def_.contype == ConstrType.CONSTR_FOREIGN):
            modes.add(SHARE_ROW_EXCLUSIVE)
        else:
            modes.add(ACCESS_EXCLUSIVE)
    if modes:
        yield "ALTER TABLE", table, ACCESS_EXCLUSIVE if ACCESS_EXCLUSIVE in modes else SHARE_ROW_EXCLUSIVE
    # a foreign key also locks the table it references against writes
    elements = [cmd.def_ for cmd in alter_commands(node) if cmd.subtype in
                (AlterTableType.AT_AddConstraint, AlterTableType.AT_AddColumn)]
    for referenced in _referenced_tables(elements):
        yield "ALTER TABLE", referenced, SHARE_ROW_EXCLUSIVE


def _referenced_tables(elements: Any) -> Iterator[str]:
    for element in elements or ():
        constraints = ([element] if isinstance(element, ast.Constraint)
                       else column_constraints(element) if isinstance(element, ast.ColumnDef) else [])
        for constraint in constraints:
            if constraint.contype == ConstrType.CONSTR_FOREIGN and constraint.pktable is not None:
                yield relation(constraint.pktable)
