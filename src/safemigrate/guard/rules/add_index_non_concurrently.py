"""add-index-non-concurrently: CREATE INDEX without CONCURRENTLY on an existing table."""

from __future__ import annotations

from collections.abc import Iterator

from pglast import ast

from safemigrate.guard.analysis.pg import (
    create_index_code,
    in_autocommit_block,
    looks_at,
    placed,
    relation,
    statements_run,
)
from safemigrate.guard.analysis.sql import ParsedStatement
from safemigrate.guard.model import Context, Violation
from safemigrate.guard.registry import rule


@rule("add-index-non-concurrently", severity="error", category="locking",
      summary="Building an index without CONCURRENTLY blocks writes to the table")
@looks_at(ast.IndexStmt)
def check(statement: ParsedStatement, context: Context) -> Iterator[Violation]:
    """Without CONCURRENTLY, CREATE INDEX holds a SHARE lock on the table for the whole
    build: inserts, updates and deletes wait until it finishes, which on a large table
    is minutes. With CONCURRENTLY the build takes longer but writes go on; it cannot run
    inside a transaction, so use Alembic's ``autocommit_block``. Indexes on a table
    created earlier in the same revision are not reported.

    Bad::

        def upgrade():
            op.create_index("ix_orders_status", "orders", ["status"])

    Good::

        def upgrade():
            with op.get_context().autocommit_block():
                op.create_index("ix_orders_status", "orders", ["status"],
                                postgresql_concurrently=True)
    """
    for node, where, ctx in statements_run(statement.node, context):
        if not isinstance(node, ast.IndexStmt) or node.concurrent:
            continue
        table = relation(node.relation)
        if ctx.is_new_table(table):
            continue
        named = f"index `{node.idxname}`" if node.idxname else "this index"
        yield placed(Violation(
            message=f"Building {named} without CONCURRENTLY blocks writes to `{table}` until it finishes.",
            help="Build it with CONCURRENTLY, outside a transaction (Alembic's autocommit_block): writes go on "
                 "during the build. If a concurrent build fails it leaves an INVALID index: drop it and retry.",
            target=table,
            fix=in_autocommit_block(create_index_code(node)),
        ), where)
