"""drop-table: DROP TABLE outside a table created in the same revision."""

from __future__ import annotations

from collections.abc import Iterator

from pglast import ast

from safemigrate.guard.analysis.pg import (
    ObjectType,
    glot_table,
    looks_at,
    object_name,
    placed,
    sign_off_fix,
    split_schema,
    statements_run,
)
from safemigrate.guard.analysis.sql import ParsedStatement, exp
from safemigrate.guard.model import Context, Violation
from safemigrate.guard.registry import rule

BATCH_PREFIX = "_alembic_tmp_"


@rule("drop-table", severity="error", category="destructive",
      summary="Dropping a table loses its rows and breaks code still using it",
      dialects=("postgresql", "mysql", "sqlite"))
@looks_at(ast.DropStmt)
def check(statement: ParsedStatement, context: Context) -> Iterator[Violation]:
    """Dropping a table deletes every row it holds for good, and every running
    instance of the application that still queries it fails until it is redeployed.
    MariaDB's ``CREATE OR REPLACE TABLE`` drops the table first and is reported the
    same way. Tables created earlier in the same revision (scratch tables of a data
    migration, Alembic's SQLite batch copies) are not reported; ``CREATE TABLE IF NOT
    EXISTS`` and ``CREATE TEMPORARY TABLE`` do not make a name new.

    Bad::

        def upgrade():
            op.drop_table("audit_log")

    Good::

        # 1. stop reading and writing audit_log in the code, and deploy;
        # 2. then, in a later revision, sign the drop off explicitly:
        from safemigrate import allow

        def upgrade():
            with allow("drop-table", "audit_log", reason="archived to S3, unused since 2.3"):
                op.drop_table("audit_log")
    """
    if statement.dialect == "postgresql":
        for node, where, ctx in statements_run(statement.node, context):
            if isinstance(node, ast.DropStmt) and node.removeType == ObjectType.OBJECT_TABLE:
                for obj in node.objects or ():
                    name = object_name(obj)
                    if _dropped_for_real(name, ctx):
                        yield placed(_violation(name), where)
    elif (isinstance(statement.node, exp.Create) and statement.node.args.get("replace")
          and (statement.node.kind or "").upper() == "TABLE"):
        # MariaDB's CREATE OR REPLACE TABLE drops the table of that name first, rows included
        name = glot_table(statement.node.find(exp.Table))
        if _dropped_for_real(name, context):
            yield _violation(name, replaced=True)
    elif isinstance(statement.node, exp.Drop) and (statement.node.args.get("kind") or "").upper() == "TABLE":
        if statement.node.args.get("temporary"):
            return
        for table in statement.node.args.get("tables") or ():
            name = glot_table(table)
            if _dropped_for_real(name, context):
                yield _violation(name)


def _dropped_for_real(name: str, context: Context) -> bool:
    bare = name.rsplit(".", 1)[-1]
    if name.lower().startswith("pg_temp."):
        return False
    return not (context.is_new_table(name) or context.is_new_table(BATCH_PREFIX + bare))


def _violation(name: str, *, replaced: bool = False) -> Violation:
    table, schema = split_schema(name)
    how = f"Replacing table `{name}` with CREATE OR REPLACE TABLE" if replaced else f"Dropping table `{name}`"
    return Violation(
        message=f"{how} deletes all its rows for good and breaks every running instance "
                "that still uses it.",
        help="Stop using the table in the code and deploy first; then drop it in a later revision, "
             "after a backup if its data may be needed, with an explicit sign-off.",
        target=name,
        fix=(f"# 1. stop reading and writing {name} in the code, and deploy;\n"
             "# 2. then, in a later revision:\n"
             + sign_off_fix("drop-table", name, "unused since <release>", f'op.drop_table("{table}"{schema})')),
    )
