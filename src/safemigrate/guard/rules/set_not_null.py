"""set-not-null: ALTER COLUMN ... SET NOT NULL (or ADD CONSTRAINT ... NOT NULL) on an existing table."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pglast import ast

from safemigrate.guard.analysis.pg import (
    AlterTableType,
    ConstrType,
    existing_table_commands,
    looks_at,
    op_table,
    placed,
    py_str,
    quote_ident,
    string_values,
    table_of,
    validate_constraint_code,
)
from safemigrate.guard.analysis.sql import ParsedStatement
from safemigrate.guard.model import Context, Violation
from safemigrate.guard.registry import rule


@rule("set-not-null", severity="error", category="locking",
      summary="Setting a column NOT NULL scans the whole table under an ACCESS EXCLUSIVE lock")
@looks_at(ast.AlterTableStmt)
def check(statement: ParsedStatement, context: Context) -> Iterator[Violation]:
    """``ALTER COLUMN ... SET NOT NULL`` checks every row while holding an ACCESS EXCLUSIVE
    lock: reads and writes wait until the scan finishes. Since PostgreSQL 12 the scan is
    skipped when a validated ``CHECK (column IS NOT NULL)`` constraint already proves it,
    so: add that check NOT VALID (instant), VALIDATE it in a later migration (a scan that
    lets reads and writes go on), then SET NOT NULL and drop the check. Before 12 there
    is no scan-free way: keep the validated check instead of NOT NULL. This linter cannot
    see whether such a check exists, so sign the statement off when it does.

    Bad::

        def upgrade():
            op.alter_column("orders", "status", nullable=False)

    Good::

        # Migration 1
        def upgrade():
            op.create_check_constraint("ck_orders_status_not_null", "orders", "status IS NOT NULL",
                                       postgresql_not_valid=True)

        # Migration 2 (a later revision): the validated check proves NOT NULL, which
        # the linter cannot see, so the SET NOT NULL is signed off
        from safemigrate import allow

        def upgrade():
            op.execute("ALTER TABLE orders VALIDATE CONSTRAINT ck_orders_status_not_null")
            with allow("set-not-null", "orders.status", reason="ck_orders_status_not_null proves it"):
                op.alter_column("orders", "status", nullable=False)
            op.drop_constraint("ck_orders_status_not_null", "orders", type_="check")
    """
    for cmd, alter, table, where, ctx in existing_table_commands(statement, context, AlterTableType.AT_SetNotNull,
                                                                 AlterTableType.AT_AddConstraint):
        columns: list[str] = []
        if cmd.subtype == AlterTableType.AT_SetNotNull and cmd.name:
            columns = [cmd.name]
        elif (isinstance(cmd.def_, ast.Constraint) and cmd.def_.contype == ConstrType.CONSTR_NOTNULL
              and not cmd.def_.skip_validation):
            columns = string_values(cmd.def_.keys)
        for column in columns:
            yield placed(_violation(alter.relation, table, column, ctx.pg_version), where)


def _violation(rel: Any, table: str, column: str, pg_version: int) -> Violation:
    name = f"ck_{table_of(table)}_{column}_not_null".lower()
    bare, schema = op_table(table)
    add = (f"op.create_check_constraint({py_str(name)}, {bare}, {py_str(f'{quote_ident(column)} IS NOT NULL')}"
           f"{schema}, postgresql_not_valid=True)")
    validate = validate_constraint_code(rel, name)
    if pg_version >= 12:
        help = (f"Add CHECK ({quote_ident(column)} IS NOT NULL) NOT VALID, VALIDATE it in a later migration (no "
                "lock on reads or writes), then SET NOT NULL, which PostgreSQL 12+ does without a scan, and drop "
                "the check.")
        fix = ("# Migration 1: only new rows are checked\n"
               f"{add}\n\n"
               "# Migration 2 (a later revision): the check proves NOT NULL, so SET NOT NULL does not scan\n"
               f"{validate}\n"
               f"op.alter_column({bare}, {py_str(column)}, nullable=False{schema})\n"
               f"op.drop_constraint({py_str(name)}, {bare}, type_=\"check\"{schema})")
    else:
        help = (f"PostgreSQL {pg_version} always scans for SET NOT NULL: add CHECK ({quote_ident(column)} IS NOT "
                "NULL) NOT VALID, VALIDATE it in a later migration (no lock on reads or writes), and keep the check "
                "instead of NOT NULL until you run PostgreSQL 12+.")
        fix = ("# Migration 1: only new rows are checked\n"
               f"{add}\n\n"
               "# Migration 2 (a later revision): checks existing rows without blocking reads or writes\n"
               f"{validate}")
    return Violation(
        message=f"Setting `{table}.{column}` NOT NULL scans every row of `{table}` under an ACCESS EXCLUSIVE lock: "
                "reads and writes wait until the scan finishes.",
        help=help,
        target=f"{table}.{column}",
        fix=fix,
    )
