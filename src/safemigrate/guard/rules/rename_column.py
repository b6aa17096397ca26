"""rename-column: ALTER TABLE ... RENAME COLUMN (and MySQL's CHANGE old new)."""

from __future__ import annotations

from collections.abc import Iterator

from pglast import ast

from safemigrate.guard.analysis.pg import (
    ObjectType,
    glot_table,
    looks_at,
    placed,
    relation,
    split_schema,
    statements_run,
)
from safemigrate.guard.analysis.sql import ParsedStatement, exp
from safemigrate.guard.model import Context, Violation
from safemigrate.guard.registry import rule


@rule("rename-column", severity="error", category="destructive",
      summary="Renaming a column breaks code still using the old name",
      dialects=("postgresql", "mysql", "sqlite"))
@looks_at(ast.RenameStmt)
def check(statement: ParsedStatement, context: Context) -> Iterator[Violation]:
    """Renaming a column breaks every running instance of the application that
    still reads or writes the old name, from the moment the migration commits
    until the new code is deployed everywhere.

    Bad::

        def upgrade():
            op.alter_column("users", "email", new_column_name="email_address")

    Good::

        # 1. add the new column, write to both in the code, and backfill:
        def upgrade():
            op.add_column("users", sa.Column("email_address", sa.Text(), nullable=True))
            op.execute("UPDATE users SET email_address = email WHERE email_address IS NULL")

        # 2. move reads to email_address and deploy;
        # 3. in a later revision, drop users.email (signed off).
    """
    if statement.dialect == "postgresql":
        for node, where, ctx in statements_run(statement.node, context):
            if (isinstance(node, ast.RenameStmt) and node.renameType == ObjectType.OBJECT_COLUMN
                    and node.relation is not None):
                table = relation(node.relation)
                if not ctx.is_new_table(table):
                    yield placed(_violation(table, node.subname or "", node.newname or ""), where)
        return
    node = statement.node
    if not (isinstance(node, exp.Alter) and (node.args.get("kind") or "").upper() == "TABLE"):
        return
    table = glot_table(node.this)
    if context.is_new_table(table):
        return
    for action in node.args.get("actions") or ():
        if isinstance(action, exp.RenameColumn):
            yield _violation(table, action.this.name, action.args["to"].name)
        elif isinstance(action, exp.ModifyColumn) and action.args.get("rename_from") is not None:
            old, new = action.args["rename_from"].name, action.this.name
            if old.lower() != new.lower():
                yield _violation(table, old, new)


def _violation(table: str, old: str, new: str) -> Violation:
    bare, extra = split_schema(table)
    return Violation(
        message=f"Renaming column `{table}.{old}` to `{new}` breaks every running instance that still uses the "
                "old name until it is redeployed.",
        help=f"Add `{new}` as a new column, write to both and backfill it, move reads over and deploy, then "
             f"drop `{old}` in a later revision; or sign the rename off if no running code uses it.",
        target=f"{table}.{old}",
        fix=(f"# 1. add {new}, write to both {old} and {new} in the code, and backfill:\n"
             "def upgrade():\n"
             f'    op.add_column("{bare}", sa.Column("{new}", sa.Text(), nullable=True){extra})  '
             f"# same type as {old}\n"
             f'    op.execute("UPDATE {table} SET {new} = {old} WHERE {new} IS NULL")\n'
             f"# 2. read {new} in the code and deploy; 3. in a later revision, drop {table}.{old} (signed off)."),
    )
