"""drop-index: DROP INDEX."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pglast import ast

from safemigrate.guard.analysis.pg import (
    ObjectType,
    looks_at,
    object_name,
    placed,
    sign_off_fix,
    split_schema,
    statements_run,
)
from safemigrate.guard.model import Context, Violation
from safemigrate.guard.registry import rule


@rule("drop-index", severity="warning", category="destructive",
      summary="Dropping an index can slow queries down and stop enforcing uniqueness",
      dialects=("postgresql",))
@looks_at(ast.DropStmt)
def check(statement: Any, context: Context) -> Iterator[Violation]:
    """Dropping an index makes every query that used it scan instead, which can take
    a busy table down; dropping a unique index also lets duplicates in from then on.
    Rebuilding it later takes as long as building it did.

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
        return
    for node, where, _ in statements_run(statement.node, context):
        if isinstance(node, ast.DropStmt) and node.removeType == ObjectType.OBJECT_INDEX:
            for obj in node.objects or ():
                yield placed(_violation(object_name(obj)), where)


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
