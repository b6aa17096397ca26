"""add-unique-or-primary-key-without-index: ADD UNIQUE / PRIMARY KEY that builds its index under the table lock."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pglast import ast

from safemigrate.guard.analysis.pg import (
    ConstrType,
    add_column_code,
    added_constraints,
    in_autocommit_block,
    looks_at,
    op_table,
    placed,
    py_str,
    quote_ident,
    quoted_relation,
    relation,
    string_values,
    table_of,
)
from safemigrate.guard.analysis.sql import ParsedStatement
from safemigrate.guard.model import Context, Violation
from safemigrate.guard.registry import rule

_KINDS = {ConstrType.CONSTR_UNIQUE: "UNIQUE", ConstrType.CONSTR_PRIMARY: "PRIMARY KEY"}


@rule("add-unique-or-primary-key-without-index", severity="error", category="locking",
      summary="Adding a UNIQUE or PRIMARY KEY constraint builds its index while the table is locked")
@looks_at(ast.AlterTableStmt)
def check(statement: ParsedStatement, context: Context) -> Iterator[Violation]:
    """``ADD CONSTRAINT ... UNIQUE`` or ``PRIMARY KEY`` (and an inline ``UNIQUE`` or
    ``PRIMARY KEY`` in ``ADD COLUMN``) builds a unique index over the whole table while
    holding an ACCESS EXCLUSIVE lock: reads and writes wait until the build finishes.
    Build the index with ``CREATE UNIQUE INDEX CONCURRENTLY`` first, then attach it with
    ``ADD CONSTRAINT ... USING INDEX``, which is instant. For a primary key, make the
    columns NOT NULL first (see ``set-not-null``), or USING INDEX sets them with a scan.

    Bad::

        def upgrade():
            op.create_unique_constraint("uq_users_email", "users", ["email"])

    Good::

        # Migration 1
        def upgrade():
            with op.get_context().autocommit_block():
                op.create_index("uq_users_email", "users", ["email"], unique=True,
                                postgresql_concurrently=True)

        # Migration 2 (a later revision)
        def upgrade():
            op.execute("ALTER TABLE users ADD CONSTRAINT uq_users_email UNIQUE USING INDEX uq_users_email")
    """
    for constraint, column, alter, table, where, _ in added_constraints(statement, context, *_KINDS):
        if column is None and constraint.indexname:
            continue
        kind = _KINDS[constraint.contype]
        if column is None:
            columns = string_values(constraint.keys)
            name = constraint.conname or _default_name(table, columns, constraint.contype)
            yield placed(Violation(
                message=f"Adding {kind} `{name}` builds its index over every row of `{table}` under an ACCESS "
                        f"EXCLUSIVE lock: reads and writes of `{table}` wait until the build finishes.",
                help=_help(constraint.contype),
                target=table,
                fix=_steps(alter.relation, "", columns, name, kind),
            ), where)
        else:
            name = constraint.conname or _default_name(table, [column.colname], constraint.contype)
            add = add_column_code(alter.relation, column, without=tuple(_KINDS))
            yield placed(Violation(
                message=f"Adding `{table}.{column.colname}` with an inline {kind} builds a unique index over "
                        f"every row of `{table}` under an ACCESS EXCLUSIVE lock: reads and writes of "
                        f"`{table}` wait until the build finishes.",
                help=_help(constraint.contype),
                target=table,
                fix=_steps(alter.relation, add, [column.colname], name, kind),
            ), where)


def _help(contype: Any) -> str:
    text = ("Build a unique index CONCURRENTLY first (outside a transaction), then add the constraint USING INDEX, "
            "which is instant.")
    if contype == ConstrType.CONSTR_PRIMARY:
        text += " Make the columns NOT NULL beforehand, or USING INDEX sets them with a full scan."
    return text


def _default_name(table: str, columns: list[str], contype: Any) -> str:
    if contype == ConstrType.CONSTR_PRIMARY:
        return f"{table_of(table)}_pkey"
    return "_".join([table_of(table), *columns, "key"])


def _steps(rel: Any, add_column: str, columns: list[str], name: str, kind: str) -> str:
    bare, schema = op_table(relation(rel))
    index = (f"op.create_index({py_str(name)}, {bare}, [{', '.join(py_str(c) for c in columns)}], unique=True"
             f"{schema}, postgresql_concurrently=True)")
    attach = (f"ALTER TABLE {quoted_relation(rel)} ADD CONSTRAINT {quote_ident(name)} {kind} "
              f"USING INDEX {quote_ident(name)}")
    first = (f"{add_column}\n\n# Migration 2 (a later revision): build the index without blocking writes\n"
             if add_column else "# Migration 1: build the index without blocking writes\n")
    last = "3" if add_column else "2"
    return ((f"# Migration 1\n{first}" if add_column else first)
            + in_autocommit_block(index) + "\n\n"
            + f"# Migration {last} (a later revision): attach it, instantly\n"
            + f"op.execute({py_str(attach)})")
