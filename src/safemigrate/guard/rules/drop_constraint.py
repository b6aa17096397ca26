"""drop-constraint: ALTER TABLE ... DROP CONSTRAINT on an existing table."""

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


@rule("drop-constraint", severity="error", category="destructive",
      summary="Dropping a constraint lets rows that break it in from then on",
      dialects=("postgresql", "mysql"))
@looks_at(ast.AlterTableStmt)
def check(statement: ParsedStatement, context: Context) -> Iterator[Violation]:
    """Dropping a foreign key, unique, check or primary key constraint stops the
    database from enforcing it: orphans, duplicates or invalid values can be
    written from then on, and cleaning them up later is a data repair, not a
    migration. A unique or primary key constraint also takes its index with it.
    On MySQL/MariaDB: ``DROP FOREIGN KEY``, ``DROP CHECK``, ``DROP CONSTRAINT`` and
    ``DROP PRIMARY KEY`` (a unique index is a constraint too: the run-time guard,
    which knows the index, refuses dropping it under this rule).

    Bad::

        def upgrade():
            op.drop_constraint("orders_user_id_fkey", "orders", type_="foreignkey")

    Good::

        # replacing it? add the new constraint first (NOT VALID, then VALIDATE),
        # and drop the old one afterwards, signed off:
        from safemigrate import allow

        def upgrade():
            with allow("drop-constraint", "orders.orders_user_id_fkey", reason="replaced by orders_user_fk"):
                op.drop_constraint("orders_user_id_fkey", "orders", type_="foreignkey")
    """
    if statement.dialect == "postgresql":
        for cmd, _, table, where, _ in existing_table_commands(statement, context,
                                                               AlterTableType.AT_DropConstraint):
            yield placed(_violation(table, cmd.name), where)
    elif isinstance(statement.node, exp.Alter) and (statement.node.args.get("kind") or "").upper() == "TABLE":
        table = glot_table(statement.node.this)
        if context.is_new_table(table):
            return
        for action in statement.node.args.get("actions") or ():
            if isinstance(action, exp.DropPrimaryKey):
                yield _violation(table, "PRIMARY")
            elif isinstance(action, exp.Drop) and (action.args.get("kind") or "").upper() in _MYSQL_KINDS:
                for name in action.args.get("tables") or ():
                    yield _violation(table, name.name)


#: What ALTER TABLE ... DROP <kind> <name> drops on MySQL/MariaDB that is always a constraint.
_MYSQL_KINDS = {"FOREIGN KEY", "CHECK", "CONSTRAINT"}


def _violation(table: str, constraint: str) -> Violation:
    bare, schema = split_schema(table)
    return Violation(
        message=f"Dropping constraint `{constraint}` of `{table}` stops the database from enforcing it, so rows "
                "that break it can be written from then on.",
        help="If the constraint is being replaced, add the new one first (NOT VALID, then VALIDATE) and drop "
             "the old one afterwards; if it is really no longer wanted, sign the drop off explicitly.",
        target=f"{table}.{constraint}",
        fix=sign_off_fix("drop-constraint", f"{table}.{constraint}", "why the data no longer needs it",
                         f'op.drop_constraint("{constraint}", "{bare}"{schema})'),
    )
