"""drop-index: DROP INDEX."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pglast import ast

from safemigrate.guard.analysis.pg import (
    ObjectType,
    glot_table,
    looks_at,
    object_name,
    placed,
    sign_off_fix,
    split_schema,
    statements_run,
)
from safemigrate.guard.analysis.sql import ParsedStatement, exp
from safemigrate.guard.model import Context, Violation
from safemigrate.guard.registry import rule


@rule("drop-index", severity="warning", category="destructive",
      summary="Dropping an index can slow queries down and stop enforcing uniqueness",
      dialects=("postgresql", "mysql"))
@looks_at(ast.DropStmt)
def check(statement: ParsedStatement, context: Context) -> Iterator[Violation]:
    """Dropping an index makes every query that used it scan instead, which can take
    a busy table down; dropping a unique index also lets duplicates in from then on.
    Rebuilding it later takes as long as building it did. On MySQL/MariaDB the
    run-time guard knows which indexes are unique, and refuses dropping one as
    ``drop-constraint``.

    Bad::

        def upgrade():
            op.drop_index("ix_users_email", table_name="users")

    Good::

        # check first that it is unused (pg_stat_user_indexes.idx_scan) and not unique:
        from safemigrate import allow

        def upgrade():
            with allow("drop-index", "ix_users_email", reason="idx_scan = 0 for 30 days"):
                with op.get_context().autocommit_block():
                    op.drop_index("ix_users_email", table_name="users", postgresql_concurrently=True)
    """
    if statement.dialect != "postgresql":
        yield from (_mysql_violation(index) for index in _glot_dropped_indexes(statement.node, context))
        return
    for node, where, _ in statements_run(statement.node, context):
        if isinstance(node, ast.DropStmt) and node.removeType == ObjectType.OBJECT_INDEX:
            for obj in node.objects or ():
                yield placed(_violation(object_name(obj)), where)


def _glot_dropped_indexes(node: Any, context: Context) -> list[str]:
    """``table.index`` for MySQL's DROP INDEX i ON t and ALTER TABLE t DROP INDEX|KEY i."""
    if isinstance(node, exp.Drop) and (node.args.get("kind") or "").upper() == "INDEX":
        on = node.args.get("cluster")
        table = glot_table(on.this) if isinstance(on, exp.OnProperty) else ""
        return [] if context.is_new_table(table) else [
            f"{table}.{i.name}" if table else i.name for i in node.args.get("tables") or ()]
    if isinstance(node, exp.Alter) and (node.args.get("kind") or "").upper() == "TABLE":
        table = glot_table(node.this)
        return [] if context.is_new_table(table) else [
            f"{table}.{i.name}" for action in node.args.get("actions") or ()
            if isinstance(action, exp.Drop) and (action.args.get("kind") or "").upper() == "INDEX"
            for i in action.args.get("tables") or ()]
    return []


def _violation(index: str) -> Violation:
    bare, schema = split_schema(index)
    return Violation(
        message=f"Dropping index `{index}` makes the queries that use it scan the table instead, and if it is "
                "unique, duplicates can be written from then on.",
        help="Check that the index is unused (idx_scan in pg_stat_user_indexes) and not unique, then drop it "
             "CONCURRENTLY outside a transaction, with an explicit sign-off.",
        target=index,
        fix=sign_off_fix("drop-index", index, "idx_scan = 0 for 30 days",
                         "with op.get_context().autocommit_block():",
                         f'    op.drop_index("{bare}", postgresql_concurrently=True{schema})'),
    )


def _mysql_violation(index: str) -> Violation:
    table, _, name = index.rpartition(".")
    return Violation(
        message=f"Dropping index `{index}` makes the queries that use it scan the table instead, and if it is "
                "unique, duplicates can be written from then on.",
        help="Check that the index is unused (sys.schema_unused_indexes, or the slow query log) and not "
             "unique, then drop it with an explicit sign-off.",
        target=index,
        fix=sign_off_fix("drop-index", index, "unused for 30 days",
                         f'op.drop_index("{name}", table_name="{table}")' if table else f'op.drop_index("{name}")'),
    )
