"""vacuum-full-or-cluster: VACUUM FULL and CLUSTER rewrite tables under an ACCESS EXCLUSIVE lock."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pglast import ast

from safemigrate.guard.analysis.pg import looks_at, option_enabled, placed, relation, statements_run
from safemigrate.guard.analysis.sql import ParsedStatement
from safemigrate.guard.model import Context, Violation
from safemigrate.guard.registry import rule


@rule("vacuum-full-or-cluster", severity="error", category="locking",
      summary="VACUUM FULL and CLUSTER rewrite the table under an ACCESS EXCLUSIVE lock")
@looks_at(ast.VacuumStmt, ast.ClusterStmt)
def check(statement: ParsedStatement, context: Context) -> Iterator[Violation]:
    """``VACUUM FULL`` and ``CLUSTER`` copy the whole table and rebuild its indexes while
    holding an ACCESS EXCLUSIVE lock: reads and writes wait until they finish, and they need
    as much free disk as the table. Reclaim space online with pg_repack or pg_squeeze,
    run outside migrations; plain ``VACUUM`` takes no lock that blocks reads or writes.

    Bad::

        def upgrade():
            with op.get_context().autocommit_block():
                op.execute("VACUUM FULL orders")

    Good::

        # Run outside migrations, during normal traffic: pg_repack --table=orders
        def upgrade():
            with op.get_context().autocommit_block():
                op.execute("VACUUM (ANALYZE) orders")
    """
    for node, where, ctx in statements_run(statement.node, context):
        found = _rewrite(node)
        if found is None:
            continue
        what, tables = found
        tables = [t for t in tables if not ctx.is_new_table(t)] if tables else [""]
        for table in tables:
            shown = f"`{table}`" if table else "every table it covers"
            yield placed(Violation(
                message=f"{what} rewrites {shown} under an ACCESS EXCLUSIVE lock: reads and writes wait until "
                        "it finishes.",
                help="Reclaim space online with pg_repack or pg_squeeze, outside migrations; plain VACUUM takes no "
                     "lock that blocks reads or writes.",
                target=table,
            ), where)


def _rewrite(node: Any) -> tuple[str, list[str]] | None:
    if isinstance(node, ast.VacuumStmt) and node.is_vacuumcmd and option_enabled(node.options, "full"):
        return "VACUUM FULL", [relation(r.relation) for r in node.rels or () if isinstance(r, ast.VacuumRelation)]
    if isinstance(node, ast.ClusterStmt):
        return "CLUSTER", [relation(node.relation)] if node.relation is not None else []
    return None
