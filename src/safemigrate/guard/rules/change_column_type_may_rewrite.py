"""change-column-type-may-rewrite: ALTER COLUMN ... TYPE that rewrites the table unless the old type allows it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pglast import ast

from safemigrate.guard.analysis.pg import (
    AlterTableType,
    existing_table_commands,
    looks_at,
    op_table,
    placed,
    py_str,
    quote_ident,
    quoted_relation,
    relation,
    rewrite_free_sources,
    sa_type,
    type_sql,
    using_is_plain,
    with_imports,
)
from safemigrate.guard.analysis.sql import ParsedStatement
from safemigrate.guard.model import Context, Violation
from safemigrate.guard.registry import rule

RULE = "change-column-type-may-rewrite"


@rule(RULE, severity="warning", category="locking",
      summary="Changing a column's type rewrites the table unless the old type converts for free")
@looks_at(ast.AlterTableStmt)
def check(statement: ParsedStatement, context: Context) -> Iterator[Violation]:
    """Some type changes only touch the catalog: ``varchar(n)`` to a longer ``varchar``,
    to ``varchar`` or to ``text``; ``text`` to ``varchar``; ``numeric(p, s)`` to a larger
    precision with the same scale, or to ``numeric``; ``cidr`` to ``inet``; a higher
    ``timestamp`` precision; and ``timestamp`` to ``timestamptz`` (or back) on PostgreSQL
    12+ when the session TimeZone is UTC. From any other type the same statement rewrites
    the table under an ACCESS EXCLUSIVE lock. Only the new type is visible in the SQL, so
    check the current one and sign the change off when it is one of those.

    Bad::

        def upgrade():
            op.alter_column("users", "name", type_=sa.String(200))

    Good::

        # users.name is varchar(100): widening it needs no rewrite
        from safemigrate import allow

        def upgrade():
            with allow("change-column-type-may-rewrite", "users.name", reason="varchar(100) -> varchar(200)"):
                op.alter_column("users", "name", type_=sa.String(200))
    """
    for cmd, alter, table, where, ctx in existing_table_commands(statement, context,
                                                                 AlterTableType.AT_AlterColumnType,
                                                                 definition=ast.ColumnDef):
        sources = rewrite_free_sources(cmd.def_.typeName, ctx.pg_version)
        if sources is None or not using_is_plain(cmd.name, cmd.def_.raw_default):
            continue
        shown = type_sql(cmd.def_.typeName)
        yield placed(Violation(
            message=f"Changing `{table}.{cmd.name}` to `{shown}` rewrites `{table}` under an ACCESS EXCLUSIVE "
                    f"lock unless the column is already {sources}.",
            help=f"Check the column's current type: if it is {sources}, only the catalog changes, so sign the "
                 "change off with that reason; otherwise add a new column and backfill it in batches.",
            target=f"{table}.{cmd.name}",
            fix=_fix(alter.relation, cmd.name, cmd.def_.typeName, shown),
        ), where)


def _fix(rel: Any, column: str, type_node: Any, shown: str) -> str:
    table = relation(rel)
    bare, schema = op_table(table)
    kind = sa_type(type_node)
    if kind is not None:
        change = f"op.alter_column({bare}, {py_str(column)}, type_={kind}{schema})"
    else:
        sql = f"ALTER TABLE {quoted_relation(rel)} ALTER COLUMN {quote_ident(column)} TYPE {shown}"
        change = f"op.execute({py_str(sql)})"
    target = f"{table}.{column}".lower()
    return with_imports(
        "from safemigrate import allow\n\n"
        "def upgrade():\n"
        f"    with allow({py_str(RULE)}, {py_str(target)}, reason=\"the old type converts without a rewrite\"):\n"
        f"        {change}")
