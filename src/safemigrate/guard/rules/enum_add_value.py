"""enum-add-value: ALTER TYPE ... ADD VALUE inside a transaction."""

from __future__ import annotations

from collections.abc import Iterator

from pglast import ast

from safemigrate.guard.analysis.pg import (
    in_autocommit_block,
    looks_at,
    placed,
    py_str,
    sql_of,
    statements_run,
    string_values,
)
from safemigrate.guard.analysis.sql import ParsedStatement
from safemigrate.guard.model import Context, Violation
from safemigrate.guard.registry import rule


@rule("enum-add-value", severity="warning", category="locking",
      summary="An enum value added in a transaction fails before PostgreSQL 12 and is unusable until commit")
@looks_at(ast.AlterEnumStmt)
def check(statement: ParsedStatement, context: Context) -> Iterator[Violation]:
    """``ALTER TYPE ... ADD VALUE`` cannot run inside a transaction block before PostgreSQL
    12, and Alembic runs each migration in one: the migration fails. From 12 on it runs,
    but the new value cannot be used until the transaction commits: a later statement of
    the same migration that writes it fails with "unsafe use of new value". Add the value
    in Alembic's ``autocommit_block`` so it is committed at once.

    Bad::

        def upgrade():
            op.execute("ALTER TYPE order_status ADD VALUE 'refunded'")
            op.execute("UPDATE orders SET status = 'refunded' WHERE refunded_at IS NOT NULL")

    Good::

        def upgrade():
            with op.get_context().autocommit_block():
                op.execute("ALTER TYPE order_status ADD VALUE IF NOT EXISTS 'refunded'")
            op.execute("UPDATE orders SET status = 'refunded' WHERE refunded_at IS NOT NULL")
    """
    for node, where, ctx in statements_run(statement.node, context):
        if not isinstance(node, ast.AlterEnumStmt) or node.oldVal or not node.newVal:
            continue
        if not (ctx.in_transaction or where is not None):
            continue
        enum = ".".join(string_values(node.typeName))
        if ctx.pg_version < 12:
            message = (f"Adding value '{node.newVal}' to enum `{enum}` inside a transaction fails on PostgreSQL "
                       f"{ctx.pg_version} (before 12): the migration stops here.")
        else:
            message = (f"Value '{node.newVal}' added to enum `{enum}` cannot be used until this transaction commits: "
                       "a later statement of this migration that writes it fails with \"unsafe use of new value\".")
        import copy

        safe = copy.copy(node)
        safe.skipIfNewValExists = True
        yield placed(Violation(
            message=message,
            help="Add the value inside Alembic's autocommit_block(), so it is committed before anything uses it.",
            target=enum.lower(),
            fix=in_autocommit_block(f"op.execute({py_str(sql_of(safe))})"),
        ), where)
