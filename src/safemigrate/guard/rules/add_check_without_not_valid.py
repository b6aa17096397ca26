"""add-check-without-not-valid: a CHECK constraint added to an existing table without NOT VALID."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pglast import ast

from safemigrate.guard.analysis.pg import (
    ConstrType,
    add_column_code,
    added_constraints,
    executed_nodes,
    looks_at,
    op_table,
    placed,
    py_str,
    quote_ident,
    quoted_relation,
    relation,
    sql_of,
    string_values,
    table_of,
    validate_constraint_code,
)
from safemigrate.guard.analysis.sql import ParsedStatement
from safemigrate.guard.model import Context, Violation
from safemigrate.guard.registry import rule


@rule("add-check-without-not-valid", severity="error", category="locking",
      summary="Adding a CHECK constraint without NOT VALID locks the table while it scans every row")
@looks_at(ast.AlterTableStmt)
def check(statement: ParsedStatement, context: Context) -> Iterator[Violation]:
    """Adding a CHECK constraint to an existing table checks every row while holding an
    ACCESS EXCLUSIVE lock: reads and writes wait until the scan finishes. The same
    happens for an inline ``CHECK`` in ``ADD COLUMN``. Add the constraint ``NOT VALID``
    (instant: only new rows are checked), then ``VALIDATE CONSTRAINT`` in a later
    migration, which scans under a lock that lets reads and writes go on.

    Bad::

        def upgrade():
            op.create_check_constraint("ck_orders_total_positive", "orders", "total >= 0")

    Good::

        # Migration 1
        def upgrade():
            op.create_check_constraint("ck_orders_total_positive", "orders", "total >= 0",
                                       postgresql_not_valid=True)

        # Migration 2 (a later revision)
        def upgrade():
            op.execute("ALTER TABLE orders VALIDATE CONSTRAINT ck_orders_total_positive")
    """
    for constraint, column, alter, table, where, _ in added_constraints(statement, context, ConstrType.CONSTR_CHECK):
        if column is None and constraint.skip_validation:
            continue
        name = constraint.conname or _default_name(table, constraint.raw_expr)
        if column is None:
            yield placed(Violation(
                message=f"Adding check constraint `{name}` scans every row of `{table}` under an ACCESS "
                        f"EXCLUSIVE lock: reads and writes of `{table}` wait until the scan finishes.",
                help="Add it NOT VALID (instant: only new rows are checked), then VALIDATE CONSTRAINT in a "
                     "later migration, which scans without blocking reads or writes.",
                target=table,
                fix=_steps(alter.relation, "", constraint, name),
            ), where)
        else:
            add = add_column_code(alter.relation, column, without=(ConstrType.CONSTR_CHECK,))
            yield placed(Violation(
                message=f"Adding `{table}.{column.colname}` with an inline CHECK scans every row of "
                        f"`{table}` under an ACCESS EXCLUSIVE lock: reads and writes of `{table}` wait "
                        "until the scan finishes.",
                help="Add the column without the CHECK, then add the constraint NOT VALID and VALIDATE it "
                     "in a later migration, which scans without blocking reads or writes.",
                target=table,
                fix=_steps(alter.relation, add, constraint, name),
            ), where)


def _default_name(table: str, expr: Any) -> str:
    """PostgreSQL's name for an unnamed check: ``orders_total_check`` (first column it mentions)."""
    for item in executed_nodes(expr):
        if isinstance(item, ast.ColumnRef):
            names = string_values(item.fields)
            if names:
                return f"{table_of(table)}_{names[-1]}_check"
    return f"{table_of(table)}_check"


def _steps(rel: Any, add_column: str, constraint: Any, name: str) -> str:
    condition = sql_of(constraint.raw_expr)
    if constraint.is_no_inherit:
        sql = (f"ALTER TABLE {quoted_relation(rel)} ADD CONSTRAINT {quote_ident(name)} CHECK ({condition}) "
               "NO INHERIT NOT VALID")
        add = f"op.execute({py_str(sql)})"
    else:
        bare, schema = op_table(relation(rel))
        add = (f"op.create_check_constraint({py_str(name)}, {bare}, {py_str(condition)}{schema}, "
               "postgresql_not_valid=True)")
    first = f"{add_column}\n{add}" if add_column else add
    return ("# Migration 1: only new rows are checked\n"
            f"{first}\n\n"
            "# Migration 2 (a later revision): checks existing rows without blocking reads or writes\n"
            f"{validate_constraint_code(rel, name)}")
