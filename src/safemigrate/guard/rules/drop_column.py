"""drop-column: ALTER TABLE ... DROP COLUMN on an existing table."""

from __future__ import annotations

from collections.abc import Iterator

from pglast import ast

from safemigrate.guard.analysis.pg import (
    AlterTableType,
    existing_table_commands,
    glot_table,
    looks_at,
    placed,
    sign_off_fix,
    split_schema,
)
from safemigrate.guard.analysis.sql import ParsedStatement, exp
from safemigrate.guard.model import Context, Violation
from safemigrate.guard.registry import rule


@rule("drop-column", severity="error", category="destructive",
      summary="Dropping a column loses its data and breaks code still reading it",
      dialects=("postgresql", "mysql", "sqlite"))
@looks_at(ast.AlterTableStmt)
def check(statement: ParsedStatement, context: Context) -> Iterator[Violation]:
    """Dropping a column deletes its data for good, and every running instance of the
    application that still selects it fails until it is redeployed (SQLAlchemy
    models name every column in their SELECTs and INSERTs).

    Bad::

        def upgrade():
            op.drop_column("users", "email")

    Good::

        # 1. stop reading and writing users.email in the code and deploy;
        # 2. then, in a later revision, sign the drop off explicitly:
        from safemigrate import allow

        def upgrade():
            with allow("drop-column", "users.email", reason="unused since 2.3"):
                op.drop_column("users", "email")
    """
    if statement.dialect == "postgresql":
        for cmd, _, table, where, _ in existing_table_commands(statement, context, AlterTableType.AT_DropColumn):
            yield placed(violation(table, cmd.name), where)
    elif isinstance(statement.node, exp.Alter) and (statement.node.args.get("kind") or "").upper() == "TABLE":
        table = glot_table(statement.node.this)
        if context.is_new_table(table):
            return
        for action in statement.node.args.get("actions") or ():
            if isinstance(action, exp.Drop) and (action.args.get("kind") or "").upper() == "COLUMN":
                for column in action.args.get("tables") or ():
                    yield violation(table, column.name)


def violation(table: str, column: str) -> Violation:
    bare, schema = split_schema(table)
    return Violation(
        message=f"Dropping column `{table}.{column}` deletes its data and breaks every running instance "
                "that still reads it.",
        help="Stop reading and writing the column first (remove it from the model, or map it with "
             "`deferred()` and stop using it) and deploy; then drop it in a later revision with an "
             "explicit sign-off.",
        target=f"{table}.{column}",
        fix=(f"# 1. remove {bare}.{column} from the model and every query, and deploy;\n"
             "# 2. then, in a later revision:\n"
             + sign_off_fix("drop-column", f"{table}.{column}", "unused since <release>",
                            f'op.drop_column("{bare}", "{column}"{schema})')),
    )
