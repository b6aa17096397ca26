"""truncate: TRUNCATE of an existing table."""

from __future__ import annotations

from collections.abc import Iterator

from pglast import ast

from safemigrate.guard.analysis.pg import glot_table, looks_at, placed, relation, sign_off_fix, statements_run
from safemigrate.guard.analysis.sql import ParsedStatement, exp
from safemigrate.guard.model import Context, Violation
from safemigrate.guard.registry import rule


@rule("truncate", severity="error", category="destructive",
      summary="Truncating a table deletes all its rows",
      dialects=("postgresql", "mysql", "sqlite"))
@looks_at(ast.TruncateStmt)
def check(statement: ParsedStatement, context: Context) -> Iterator[Violation]:
    """TRUNCATE deletes every row of a table at once, without DELETE triggers and
    without a way back once committed. In a migration it runs on every
    environment, production included.

    Bad::

        def upgrade():
            op.execute("TRUNCATE events")

    Good::

        # delete only the rows you mean to, in batches:
        def upgrade():
            op.execute("DELETE FROM events WHERE created_at < now() - interval '90 days'")

        # or, if the table really must be emptied, say so:
        from safemigrate import allow

        def upgrade():
            with allow("truncate", "events", reason="rebuilt from the queue on start"):
                op.execute("TRUNCATE events")
    """
    if statement.dialect == "postgresql":
        for node, where, ctx in statements_run(statement.node, context):
            if isinstance(node, ast.TruncateStmt):
                for rel in node.relations or ():
                    name = relation(rel)
                    if not ctx.is_new_table(name):
                        yield placed(_violation(name), where)
    elif isinstance(statement.node, exp.TruncateTable):
        for table in statement.node.expressions or ():
            name = glot_table(table)
            if not context.is_new_table(name):
                yield _violation(name)


def _violation(name: str) -> Violation:
    return Violation(
        message=f"Truncating table `{name}` deletes all its rows for good.",
        help="Delete only the rows you mean to, with a WHERE clause and in batches; if the table really must "
             "be emptied, back it up first and sign the truncate off explicitly.",
        target=name,
        fix=sign_off_fix("truncate", name, "why its rows are not needed", f'op.execute("TRUNCATE {name}")'),
    )
