"""concurrently-in-transaction: CREATE/DROP INDEX, REINDEX or DETACH PARTITION CONCURRENTLY in a transaction."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pglast import ast

from safemigrate.guard.analysis.pg import (
    AlterTableType,
    ObjectType,
    alter_commands,
    create_index_code,
    in_autocommit_block,
    looks_at,
    object_name,
    op_table,
    placed,
    py_str,
    reindex_is_concurrent,
    reindex_sql,
    relation,
    sql_of,
    statements_run,
)
from safemigrate.guard.analysis.sql import ParsedStatement
from safemigrate.guard.model import Context, Violation
from safemigrate.guard.registry import rule


@rule("concurrently-in-transaction", severity="error", category="locking",
      summary="A CONCURRENTLY operation inside a transaction fails")
@looks_at(ast.IndexStmt, ast.DropStmt, ast.ReindexStmt, ast.AlterTableStmt)
def check(statement: ParsedStatement, context: Context) -> Iterator[Violation]:
    """CREATE INDEX CONCURRENTLY, DROP INDEX CONCURRENTLY, REINDEX ... CONCURRENTLY and
    ALTER TABLE ... DETACH PARTITION ... CONCURRENTLY cannot run inside a transaction
    block, and Alembic runs every PostgreSQL migration in one: the migration stops with
    an error when it reaches the statement. Alembic's ``autocommit_block`` commits the
    migration's transaction and runs its body outside one.

    Bad::

        def upgrade():
            op.create_index("ix_orders_status", "orders", ["status"],
                            postgresql_concurrently=True)

    Good::

        def upgrade():
            with op.get_context().autocommit_block():
                op.create_index("ix_orders_status", "orders", ["status"],
                                postgresql_concurrently=True)
    """
    for node, where, ctx in statements_run(statement.node, context):
        if not (ctx.in_transaction or where is not None):
            continue
        found = _concurrent(node)
        if found is None:
            continue
        what, target, code = found
        yield placed(Violation(
            message=f"{what} cannot run inside a transaction block, so this migration fails when it reaches it "
                    "(Alembic runs each PostgreSQL migration in a transaction).",
            help="Run it inside Alembic's autocommit_block(), which commits the migration's transaction first and "
                 "runs the statement outside one.",
            target=target,
            fix=in_autocommit_block(code),
        ), where)


def _concurrent(node: Any) -> tuple[str, str, str] | None:
    """(what, target, Alembic code) for a statement that must run outside a transaction."""
    if isinstance(node, ast.IndexStmt) and node.concurrent:
        table = relation(node.relation)
        return f"CREATE INDEX CONCURRENTLY on `{table}`", table, create_index_code(node)
    if isinstance(node, ast.DropStmt) and node.removeType == ObjectType.OBJECT_INDEX and node.concurrent:
        names = [object_name(obj) for obj in node.objects or ()]
        calls = []
        for index in names:
            bare, schema = op_table(index)
            exists = ", if_exists=True" if node.missing_ok else ""
            calls.append(f"op.drop_index({bare}{schema}{exists}, postgresql_concurrently=True)")
        return f"DROP INDEX CONCURRENTLY of `{', '.join(names)}`", names[0] if names else "", "\n".join(calls)
    if isinstance(node, ast.ReindexStmt) and reindex_is_concurrent(node):
        target = relation(node.relation) if node.relation is not None else (node.name or "")
        code = f"op.execute({py_str(reindex_sql(node, concurrently=True))})"
        return f"REINDEX CONCURRENTLY of `{target}`", target, code
    if isinstance(node, ast.AlterTableStmt):
        for cmd in alter_commands(node):
            if (cmd.subtype == AlterTableType.AT_DetachPartition and isinstance(cmd.def_, ast.PartitionCmd)
                    and cmd.def_.concurrent):
                table = relation(node.relation)
                return (f"DETACH PARTITION CONCURRENTLY on `{table}`", table,
                        f"op.execute({py_str(sql_of(node))})")
    return None
