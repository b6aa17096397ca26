"""create-trigger: CREATE TRIGGER or RULE on a table the revision did not create, CREATE EVENT TRIGGER."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pglast import ast

from safemigrate.guard.analysis.pg import looks_at, placed, py_str, relation, sign_off_fix, sql_of, statements_run
from safemigrate.guard.analysis.sql import ParsedStatement
from safemigrate.guard.model import Context, Violation
from safemigrate.guard.registry import rule


@rule("create-trigger", severity="error", category="destructive",
      summary="A trigger, rule or event trigger runs SQL on later writes, outside any migration")
@looks_at(ast.CreateTrigStmt, ast.CreateEventTrigStmt)
def check(statement: ParsedStatement, context: Context) -> Iterator[Violation]:
    """A trigger or a rule on an existing table runs its SQL on every later write to
    that table, an event trigger on every later schema change: in production, from
    the application's own statements, where no migration check sees what it does
    (a trigger function can delete rows, a rule can turn an INSERT into anything).
    The run-time guard refuses one created in production; this rule shows it before.
    Triggers and rules on a table created earlier in the same revision are not
    reported.

    Bad::

        def upgrade():
            op.execute("CREATE TRIGGER orders_touch BEFORE UPDATE ON orders "
                       "FOR EACH ROW EXECUTE FUNCTION touch()")

    Good::

        # set the column from the application, or review the function and sign the trigger off:
        from safemigrate import allow

        def upgrade():
            with allow("create-trigger", "orders.orders_touch", reason="only sets updated_at, reviewed in #88"):
                op.execute("CREATE TRIGGER orders_touch BEFORE UPDATE ON orders "
                           "FOR EACH ROW EXECUTE FUNCTION touch()")
    """
    for node, where, ctx in statements_run(statement.node, context):
        if isinstance(node, (ast.CreateTrigStmt, ast.RuleStmt)):
            table = relation(node.relation)
            if ctx.is_new_table(table) or ctx.is_new_view(table):
                continue
            kind = "trigger" if isinstance(node, ast.CreateTrigStmt) else "rule"
            name = node.trigname if isinstance(node, ast.CreateTrigStmt) else node.rulename
            yield placed(_violation(f"{kind.capitalize()} `{name}` on `{table}` runs its SQL on every later "
                                    f"write to `{table}`", f"{table}.{name}", node), where)
        elif isinstance(node, ast.CreateEventTrigStmt):
            yield placed(_violation(f"Event trigger `{node.trigname}` runs its SQL on every later schema change "
                                    "of the database", node.trigname or "", node), where)


def _violation(what: str, target: str, node: Any) -> Violation:
    return Violation(
        message=f"{what}, in production, where no migration check sees what it does.",
        help="Do the work in the application or in the migration itself; if the trigger is needed, review what "
             "its function does and sign it off.",
        target=target,
        fix=sign_off_fix("create-trigger", target, "what its function does, reviewed in <ticket>",
                         f"op.execute({py_str(sql_of(node))})"),
    )
