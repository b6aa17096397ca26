"""drop-index-non-concurrently: DROP INDEX without CONCURRENTLY."""

from __future__ import annotations

from collections.abc import Iterator

from pglast import ast

from safemigrate.guard.analysis.pg import (
    ObjectType,
    in_autocommit_block,
    looks_at,
    object_name,
    op_table,
    placed,
    statements_run,
)
from safemigrate.guard.analysis.sql import ParsedStatement
from safemigrate.guard.model import Context, Violation
from safemigrate.guard.registry import rule


@rule("drop-index-non-concurrently", severity="warning", category="locking",
      summary="Dropping an index without CONCURRENTLY locks its table against reads and writes")
@looks_at(ast.DropStmt)
def check(statement: ParsedStatement, context: Context) -> Iterator[Violation]:
    """DROP INDEX takes an ACCESS EXCLUSIVE lock on the index's table. The drop itself is
    quick, but the lock must wait for every running query on the table, and while it waits
    every new query queues behind it. DROP INDEX CONCURRENTLY waits without blocking
    anyone; it cannot run inside a transaction, so use Alembic's ``autocommit_block``.

    Bad::

        def upgrade():
            op.drop_index("ix_orders_status", table_name="orders")

    Good::

        def upgrade():
            with op.get_context().autocommit_block():
                op.drop_index("ix_orders_status", table_name="orders",
                              postgresql_concurrently=True)
    """
    for node, where, _ in statements_run(statement.node, context):
        if not (isinstance(node, ast.DropStmt) and node.removeType == ObjectType.OBJECT_INDEX
                and not node.concurrent):
            continue
        for obj in node.objects or ():
            index = object_name(obj)
            bare, schema = op_table(index)
            exists = ", if_exists=True" if node.missing_ok else ""
            yield placed(Violation(
                message=f"Dropping index `{index}` without CONCURRENTLY takes an ACCESS EXCLUSIVE lock on its "
                        "table: while the drop waits for running queries, every later read and write of the table "
                        "queues behind it.",
                help="Drop it with CONCURRENTLY, outside a transaction (Alembic's autocommit_block): it then waits "
                     "for running queries without blocking new ones.",
                target=index,
                fix=in_autocommit_block(f"op.drop_index({bare}{schema}{exists}, postgresql_concurrently=True)"),
            ), where)
