"""reindex-non-concurrently: REINDEX without CONCURRENTLY."""

from __future__ import annotations

from collections.abc import Iterator

from pglast import ast

from safemigrate.guard.analysis.pg import (
    in_autocommit_block,
    looks_at,
    placed,
    py_str,
    reindex_is_concurrent,
    reindex_sql,
    relation,
    statements_run,
)
from safemigrate.guard.analysis.sql import ParsedStatement
from safemigrate.guard.model import Context, Violation
from safemigrate.guard.registry import rule


@rule("reindex-non-concurrently", severity="error", category="locking",
      summary="REINDEX without CONCURRENTLY blocks writes and the queries that use the index")
@looks_at(ast.ReindexStmt)
def check(statement: ParsedStatement, context: Context) -> Iterator[Violation]:
    """REINDEX locks the table against writes and takes an ACCESS EXCLUSIVE lock on each
    index it rebuilds, so queries whose plan would use the index wait too, until the
    rebuild finishes. PostgreSQL 12+ has ``REINDEX ... CONCURRENTLY``, which must run
    outside a transaction; before 12, build a new index CONCURRENTLY, drop the old one
    CONCURRENTLY and rename the new one.

    Bad::

        def upgrade():
            op.execute("REINDEX INDEX ix_orders_status")

    Good::

        def upgrade():
            with op.get_context().autocommit_block():
                op.execute("REINDEX INDEX CONCURRENTLY ix_orders_status")
    """
    for node, where, ctx in statements_run(statement.node, context):
        if not isinstance(node, ast.ReindexStmt) or reindex_is_concurrent(node):
            continue
        kind = node.kind.name.rsplit("_", 1)[-1] if node.kind is not None else ""
        target = relation(node.relation) if node.relation is not None else (node.name or "")
        if kind == "TABLE" and ctx.is_new_table(target):
            continue
        subject, blocked = {
            "INDEX": (f"index `{target}`", "writes to its table, and every query that uses the index,"),
            "TABLE": (f"the indexes of `{target}`", f"writes to `{target}`, and every query that uses its indexes,"),
            "SCHEMA": (f"every index in schema `{target}`", "writes to its tables, and the queries that use them,"),
        }.get(kind, ("every index of the database", "writes, and the queries that use the indexes,"))
        fix = None
        if kind == "SYSTEM":
            help = "REINDEX SYSTEM cannot run concurrently: run it in a maintenance window, outside migrations."
        elif ctx.pg_version >= 12:
            help = "Use REINDEX ... CONCURRENTLY, outside a transaction (Alembic's autocommit_block)."
            fix = in_autocommit_block(f"op.execute({py_str(reindex_sql(node, concurrently=True))})")
        else:
            help = (f"PostgreSQL {ctx.pg_version} has no REINDEX CONCURRENTLY: build a new index CONCURRENTLY, drop "
                    "the old one CONCURRENTLY and rename the new one, each outside a transaction.")
        yield placed(Violation(
            message=f"Rebuilding {subject} without CONCURRENTLY blocks {blocked} until it finishes.",
            help=help,
            target=target,
            fix=fix,
        ), where)
