"""add-column-volatile-default: ADD COLUMN whose value must be computed row by row (or any default before PG 11)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pglast import ast

from safemigrate.guard.analysis.pg import (
    AlterTableType,
    ConstrType,
    add_column_code,
    column_constraints,
    column_default,
    executed_nodes,
    existing_table_commands,
    looks_at,
    op_table,
    placed,
    py_str,
    quote_ident,
    quoted_relation,
    relation,
    sql_of,
    string_values,
    type_name,
    with_imports,
)
from safemigrate.guard.analysis.sql import ParsedStatement
from safemigrate.guard.model import Context, Violation
from safemigrate.guard.registry import rule

# Volatile built-ins (and common extension functions) seen in column defaults. now(),
# CURRENT_TIMESTAMP and friends are STABLE: PostgreSQL 11+ evaluates them once.
VOLATILE = {"random", "random_normal", "gen_random_uuid", "uuid_generate_v1", "uuid_generate_v1mc",
            "uuid_generate_v4", "uuidv4", "uuidv7", "gen_random_bytes", "clock_timestamp", "timeofday",
            "nextval", "txid_current", "pg_current_xact_id"}
SERIAL = {"serial", "serial4", "bigserial", "serial8", "smallserial", "serial2"}


@rule("add-column-volatile-default", severity="error", category="locking",
      summary="Adding a column whose value is computed per row rewrites the table")
@looks_at(ast.AlterTableStmt)
def check(statement: ParsedStatement, context: Context) -> Iterator[Violation]:
    """Since PostgreSQL 11, ``ADD COLUMN ... DEFAULT <constant or stable expression>`` is
    instant: the value is stored once in the catalog. A volatile default
    (``gen_random_uuid()``, ``random()``, ``clock_timestamp()``, ``nextval()``...), a
    ``serial`` or identity column, or a ``GENERATED ... STORED`` column must be computed for
    every row, so the table is rewritten under an ACCESS EXCLUSIVE lock: reads and writes
    wait until it finishes. Before PostgreSQL 11 any default rewrites the table.
    ``now()`` and ``CURRENT_TIMESTAMP`` are stable, not volatile, and are fine on 11+.

    Bad::

        def upgrade():
            op.add_column("orders", sa.Column("token", sa.Uuid(),
                                              server_default=sa.text("gen_random_uuid()")))

    Good::

        def upgrade():
            op.add_column("orders", sa.Column("token", sa.Uuid(), nullable=True))
            op.alter_column("orders", "token", server_default=sa.text("gen_random_uuid()"))
            # then backfill old rows in batches, outside a migration transaction:
            #   UPDATE orders SET token = gen_random_uuid() WHERE token IS NULL AND id BETWEEN ... AND ...
    """
    for cmd, alter, table, where, ctx in existing_table_commands(statement, context, AlterTableType.AT_AddColumn,
                                                                 definition=ast.ColumnDef):
        found = _per_row_value(cmd.def_, ctx.pg_version)
        if found is not None:
            why, fix = found
            column = cmd.def_.colname
            yield placed(Violation(
                message=f"Adding `{table}.{column}` {why} rewrites every row of `{table}` under an ACCESS "
                        "EXCLUSIVE lock: reads and writes wait until it finishes.",
                help=(_GENERATED_HELP if fix is _no_fix else
                      "Add the column without a value (instant), set the default for new rows with ALTER "
                      "COLUMN ... SET DEFAULT, and backfill existing rows in batches outside the migration."),
                target=f"{table}.{column}",
                fix=fix(alter.relation, cmd.def_),
            ), where)


def _per_row_value(column: Any, pg_version: int) -> tuple[str, Any] | None:
    """(why, fix maker) when adding ``column`` computes a value for every existing row."""
    if type_name(column.typeName) in SERIAL:
        return f"as `{type_name(column.typeName)}` (a nextval() default)", _serial_fix
    if column_constraints(column, ConstrType.CONSTR_IDENTITY):
        return "as an identity column", _serial_fix
    for constraint in column_constraints(column, ConstrType.CONSTR_GENERATED):
        if constraint.generated_kind == "s":
            return "as a stored generated column", _no_fix
    default = column_default(column)
    if default is None:
        return None
    for item in executed_nodes(default):
        if isinstance(item, ast.FuncCall):
            name = string_values(item.funcname)[-1].lower()
            if name in VOLATILE:
                return f"with the volatile default `{sql_of(default)}`", _default_fix
    if pg_version < 11:
        return f"with a default on PostgreSQL {pg_version} (before 11)", _default_fix
    return None


_GENERATED_HELP = ("Add a plain column instead, fill it for new rows from a trigger (or the application), and "
                   "backfill existing rows in batches outside the migration.")


def _no_fix(rel: Any, column: Any) -> None:
    return None


def _then_not_null(column: Any) -> str:
    if column_constraints(column, ConstrType.CONSTR_NOTNULL):
        return "\n# and once every row has a value, make it NOT NULL (see the set-not-null rule)"
    return ""


def _default_fix(rel: Any, column: Any) -> str:
    table = relation(rel)
    bare, schema = op_table(table)
    default = sql_of(column_default(column))
    add = add_column_code(rel, column, without=(ConstrType.CONSTR_DEFAULT,), nullable=True)
    return with_imports(
        f"{add}\n"
        f"op.alter_column({bare}, {py_str(column.colname)}, server_default=sa.text({py_str(default)}){schema})\n"
        "# then backfill old rows in batches, outside a migration transaction:\n"
        f"#   UPDATE {quoted_relation(rel)} SET {quote_ident(column.colname)} = {default} "
        f"WHERE {quote_ident(column.colname)} IS NULL AND id BETWEEN ... AND ..." + _then_not_null(column))


def _serial_fix(rel: Any, column: Any) -> str:
    table = relation(rel)
    bare, schema = op_table(table)
    name = column.colname
    sequence = f"{table}_{name}_seq".lower()
    kind = "sa.SmallInteger()" if type_name(column.typeName) in {"smallserial", "serial2", "int2"} else (
        "sa.Integer()" if type_name(column.typeName) in {"serial", "serial4", "int4"} else "sa.BigInteger()")
    column_sql = f"{quoted_relation(rel)}.{quote_ident(name)}"
    next_value = f"nextval('{sequence}')"
    return (
        f"op.add_column({bare}, sa.Column({py_str(name)}, {kind}, nullable=True){schema})\n"
        f"op.execute({py_str(f'CREATE SEQUENCE {sequence} OWNED BY {column_sql}')})\n"
        f"op.alter_column({bare}, {py_str(name)}, server_default=sa.text({py_str(next_value)}){schema})\n"
        "# then backfill old rows in batches, outside a migration transaction:\n"
        f"#   UPDATE {quoted_relation(rel)} SET {quote_ident(name)} = nextval('{sequence}') "
        f"WHERE {quote_ident(name)} IS NULL AND id BETWEEN ... AND ...\n"
        "# and once every row has a value, make it NOT NULL (see the set-not-null rule)")
