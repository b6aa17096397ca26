"""delete-without-where: DELETE with no WHERE clause, or an always-true one."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ..sql import exp
from pglast import ast
from pglast.stream import RawStream

from ..model import Context, Violation
from ..pg import executed_nodes, glot_is_constant_true, glot_table, is_constant_true, placed, relation, statements_run
from ..registry import rule


@rule("delete-without-where", severity="error", category="destructive",
      summary="Deleting without a WHERE clause empties the table",
      dialects=("postgresql", "mysql", "sqlite"))
def check(statement: Any, context: Context) -> Iterator[Violation]:
    """A DELETE without a WHERE clause, or with one that is always true
    (``WHERE 1 = 1``, ``WHERE true``), deletes every row of the table. It is
    found wherever it runs: in a CTE, a DO block, an EXECUTE of a literal
    string, or the body of a function the migration creates.

    Bad::

        def upgrade():
            op.execute("DELETE FROM sessions")

    Good::

        def upgrade():
            op.execute("DELETE FROM sessions WHERE expires_at < now()")

        # or, if every row must go, say so:
        from safemigrate import allow

        def upgrade():
            with allow("delete-without-where", "sessions", reason="sessions are recreated on login"):
                op.execute("DELETE FROM sessions")
    """
    if statement.dialect == "postgresql":
        for top, where, ctx in statements_run(statement.node, context):
            for node in executed_nodes(top):
                if not isinstance(node, ast.DeleteStmt):
                    continue
                name = relation(node.relation)
                if ctx.is_new_table(name):
                    continue
                if node.whereClause is None:
                    yield placed(_violation(name, None), where)
                elif is_constant_true(node.whereClause):
                    yield placed(_violation(name, _text(node.whereClause)), where)
    else:
        for node in statement.node.find_all(exp.Delete):
            table = node.this if isinstance(node.this, exp.Table) else node.find(exp.Table)
            name = glot_table(table)
            if context.is_new_table(name) or any(j.args.get("on") for j in (table.args.get("joins") or ())):
                continue
            condition = node.args.get("where")
            if condition is None:
                yield _violation(name, None)
            elif glot_is_constant_true(condition):
                yield _violation(name, condition.this.sql(dialect=statement.dialect))


def _text(node: Any) -> str:
    try:
        return RawStream()(node)
    except Exception:  # noqa: BLE001 - a clause pglast cannot print: name it generically
        return "..."


def _violation(name: str, always_true: str | None) -> Violation:
    how = "without a WHERE clause" if always_true is None else f"with an always-true WHERE clause (`{always_true}`)"
    return Violation(
        message=f"Deleting from `{name}` {how} deletes every row of the table.",
        help="Add a WHERE clause that selects only the rows to delete (in batches on a large table); "
             "if every row really must go, sign it off explicitly.",
        target=name,
        fix=("from safemigrate import allow\n\n"
             "def upgrade():\n"
             f'    op.execute("DELETE FROM {name} WHERE <only the rows to delete>")\n'
             "    # or, if every row must go:\n"
             f'    with allow("delete-without-where", "{name.lower()}", reason="why no row is needed"):\n'
             f'        op.execute("DELETE FROM {name}")'),
    )
