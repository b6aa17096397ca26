"""drop-view: DROP VIEW / DROP MATERIALIZED VIEW of a view the revision did not create."""

from __future__ import annotations

from collections.abc import Iterator

from pglast import ast

from safemigrate.guard.analysis.pg import (
    ObjectType,
    glot_table,
    looks_at,
    object_name,
    placed,
    py_str,
    quote_ident,
    sign_off_fix,
    statements_run,
    string_values,
)
from safemigrate.guard.analysis.sql import ParsedStatement, exp
from safemigrate.guard.model import Context, Violation
from safemigrate.guard.registry import rule

_VIEWS = {ObjectType.OBJECT_VIEW: "view", ObjectType.OBJECT_MATVIEW: "materialized view"}


@rule("drop-view", severity="error", category="destructive",
      summary="Dropping a view breaks the code and reports that still read it",
      dialects=("postgresql", "mysql"))
@looks_at(ast.DropStmt)
def check(statement: ParsedStatement, context: Context) -> Iterator[Violation]:
    """Every running instance of the application, report or other service that still
    reads a dropped view fails until it is changed, and a materialized view takes the
    rows it stores with it. The run-time guard refuses the drop in production; this
    rule shows it before. Views created earlier in the same revision are not reported;
    ``CREATE OR REPLACE VIEW`` does not make a name new (it may replace a view in use).

    Bad::

        def upgrade():
            op.execute("DROP VIEW active_users")

    Good::

        # to change what a view shows while keeping its columns, replace it:
        def upgrade():
            op.execute("CREATE OR REPLACE VIEW active_users AS SELECT * FROM users WHERE deleted_at IS NULL")

        # to retire it: 1. stop reading it everywhere, and deploy; 2. then, in a later revision:
        from safemigrate import allow

        def upgrade():
            with allow("drop-view", "active_users", reason="unused since 2.3, see #412"):
                op.execute("DROP VIEW active_users")
    """
    if statement.dialect == "postgresql":
        for node, where, ctx in statements_run(statement.node, context):
            if isinstance(node, ast.DropStmt) and node.removeType in _VIEWS:
                for obj in node.objects or ():
                    name = object_name(obj)
                    if not ctx.is_new_view(name):
                        quoted = ".".join(quote_ident(part) for part in string_values(obj))
                        yield placed(_violation(name, _VIEWS[node.removeType], quoted), where)
    elif isinstance(statement.node, exp.Drop) and (statement.node.args.get("kind") or "").upper() == "VIEW":
        for view in statement.node.args.get("tables") or ():
            name = glot_table(view)
            if not context.is_new_view(name):
                yield _violation(name, "view", view.sql(dialect="mysql"))


def _violation(name: str, kind: str, quoted: str) -> Violation:
    lost = " deletes the rows it stores and" if kind == "materialized view" else ""
    keyword = "MATERIALIZED VIEW" if kind == "materialized view" else "VIEW"
    return Violation(
        message=f"Dropping {kind} `{name}`{lost} breaks every running instance, report and query that still "
                "reads it.",
        help="Stop reading it everywhere (the code, reports, other services) and deploy first; then drop it in a "
             "later revision with an explicit sign-off. To change what it shows while keeping its columns, use "
             "CREATE OR REPLACE VIEW instead.",
        target=name,
        fix=(f"# 1. stop reading {name} everywhere, and deploy;\n"
             "# 2. then, in a later revision:\n"
             + sign_off_fix("drop-view", name, "unused since <release>",
                            f"op.execute({py_str(f'DROP {keyword} {quoted}')})")),
    )
