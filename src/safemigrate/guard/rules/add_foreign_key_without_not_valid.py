"""add-foreign-key-without-not-valid: a FOREIGN KEY added to an existing table without NOT VALID."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pglast import ast

from safemigrate.guard.analysis.pg import (
    AlterTableType,
    ConstrType,
    add_column_code,
    added_constraints,
    alter_commands,
    column_constraints,
    looks_at,
    not_valid_foreign_key_code,
    placed,
    relation,
    string_values,
    table_of,
    validate_constraint_code,
)
from safemigrate.guard.analysis.sql import ParsedStatement
from safemigrate.guard.model import Context, Violation
from safemigrate.guard.registry import rule

_HELP = ("Add the constraint NOT VALID (instant: only new rows are checked), then VALIDATE CONSTRAINT in a "
         "later migration: validation scans the table without blocking writes.")


@rule("add-foreign-key-without-not-valid", severity="error", category="locking",
      summary="Adding a foreign key without NOT VALID blocks writes to both tables while it scans")
@looks_at(ast.AlterTableStmt)
def check(statement: ParsedStatement, context: Context) -> Iterator[Violation]:
    """Adding a FOREIGN KEY to an existing table checks every row while holding a SHARE ROW
    EXCLUSIVE lock on both the table and the table it references: inserts, updates and
    deletes on both wait until the scan finishes. An inline ``REFERENCES`` in ``ADD COLUMN``
    is checked the same way when the statement also sets a default (without one, the new
    column is NULL everywhere and PostgreSQL skips the check). Add the constraint ``NOT VALID`` (instant), then
    ``VALIDATE CONSTRAINT`` in a later migration, which takes a lock that lets reads and
    writes go on. Foreign keys in CREATE TABLE, or on a table created earlier in the same
    revision, are not reported.

    Bad::

        def upgrade():
            op.create_foreign_key("fk_orders_user_id", "orders", "users", ["user_id"], ["id"])

    Good::

        # Migration 1
        def upgrade():
            op.create_foreign_key("fk_orders_user_id", "orders", "users", ["user_id"], ["id"],
                                  postgresql_not_valid=True)

        # Migration 2 (a later revision)
        def upgrade():
            op.execute("ALTER TABLE orders VALIDATE CONSTRAINT fk_orders_user_id")
    """
    for constraint, column, alter, table, where, _ in added_constraints(statement, context, ConstrType.CONSTR_FOREIGN):
        if column is None and constraint.skip_validation:
            continue
        rel, referenced = alter.relation, relation(constraint.pktable)
        if column is None:
            columns = string_values(constraint.fk_attrs)
            name = constraint.conname or _default_name(table, columns)
            yield placed(Violation(
                message=f"Adding foreign key `{name}` checks every row of `{table}` while blocking writes to "
                        f"`{table}` and `{referenced}` until the scan finishes.",
                help=_HELP,
                target=table,
                fix=_steps(rel, "", not_valid_foreign_key_code(rel, constraint, columns, name), name),
            ), where)
        elif _validates_new_columns(alter):
            name = constraint.conname or _default_name(table, [column.colname])
            add = add_column_code(rel, column, without=(ConstrType.CONSTR_FOREIGN,))
            yield placed(Violation(
                message=f"Adding `{table}.{column.colname}` with an inline REFERENCES `{referenced}` checks "
                        f"every row of `{table}`, because the statement also sets a default: reads and "
                        f"writes of `{table}`, and writes to `{referenced}`, wait until the scan finishes.",
                help="Add the column without REFERENCES, then add the foreign key NOT VALID and VALIDATE "
                     "it in a later migration: validation scans the table without blocking writes.",
                target=table,
                fix=_steps(rel, add, not_valid_foreign_key_code(rel, constraint, [column.colname], name), name),
            ), where)


def _validates_new_columns(node: Any) -> bool:
    """Whether PostgreSQL checks the rows for an inline REFERENCES of ADD COLUMN in this ALTER TABLE.

    It skips the check (the new column is NULL everywhere) unless an added column has a
    DEFAULT or the same statement also adds a table FOREIGN KEY (parse_utilcmd.c).
    """
    for cmd in alter_commands(node):
        if cmd.subtype == AlterTableType.AT_AddColumn and isinstance(cmd.def_, ast.ColumnDef):
            if cmd.def_.raw_default is not None or column_constraints(cmd.def_, ConstrType.CONSTR_DEFAULT):
                return True
        elif (cmd.subtype == AlterTableType.AT_AddConstraint and isinstance(cmd.def_, ast.Constraint)
              and cmd.def_.contype == ConstrType.CONSTR_FOREIGN):
            return True
    return False


def _default_name(table: str, columns: list[str]) -> str:
    return "_".join([table_of(table), *columns, "fkey"])


def _steps(rel: Any, add_column: str, add_constraint: str, name: str) -> str:
    first = f"{add_column}\n{add_constraint}" if add_column else add_constraint
    return ("# Migration 1: only new rows are checked\n"
            f"{first}\n\n"
            "# Migration 2 (a later revision): checks existing rows without blocking writes\n"
            f"{validate_constraint_code(rel, name)}")
