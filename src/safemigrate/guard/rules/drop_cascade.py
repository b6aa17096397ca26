"""drop-cascade: any DROP (or TRUNCATE, or ALTER TABLE ... DROP) with CASCADE."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pglast import ast

from safemigrate.guard.analysis.pg import (
    AlterTableType,
    ObjectType,
    alter_commands,
    is_cascade,
    looks_at,
    object_name,
    placed,
    relation,
    statements_run,
)
from safemigrate.guard.analysis.sql import ParsedStatement
from safemigrate.guard.model import Context, Violation
from safemigrate.guard.registry import rule

_KIND_NAMES: dict[ObjectType, str] = {ObjectType.OBJECT_MATVIEW: "materialized view",
                                      ObjectType.OBJECT_FOREIGN_TABLE: "foreign table"}


@rule("drop-cascade", severity="error", category="destructive",
      summary="CASCADE silently drops everything that depends on the object",
      dialects=("postgresql",))
@looks_at(ast.DropStmt, ast.TruncateStmt, ast.DropOwnedStmt, ast.AlterTableStmt)
def check(statement: ParsedStatement, context: Context) -> Iterator[Violation]:
    """With CASCADE, PostgreSQL also drops every object that depends on the one
    named (views, foreign keys of other tables, columns of a dropped type,
    everything in a schema) and only says so in a NOTICE. TRUNCATE ... CASCADE
    empties every table that references the truncated one. The migration then
    removes more than it says.

    Bad::

        def upgrade():
            op.execute("DROP TABLE legacy_orders CASCADE")

    Good::

        # drop the dependants by name first, so the migration says what it removes;
        # without CASCADE, anything missed makes it fail instead:
        def upgrade():
            op.execute("DROP VIEW legacy_order_totals")
            op.drop_constraint("invoices_order_id_fkey", "invoices", type_="foreignkey")
            op.drop_table("legacy_orders")
    """
    if statement.dialect != "postgresql":
        return
    for node, where, ctx in statements_run(statement.node, context):
        for violation in _violations(node, ctx):
            yield placed(violation, where)


def _violations(node: Any, context: Context) -> Iterator[Violation]:
    if isinstance(node, ast.DropStmt) and is_cascade(node):
        raw = node.removeType.name.removeprefix("OBJECT_").lower().replace("_", " ") if node.removeType else "object"
        kind = _KIND_NAMES.get(node.removeType, raw) if node.removeType is not None else raw
        for obj in node.objects or ():
            name = object_name(obj)
            if node.removeType == ObjectType.OBJECT_TABLE and context.is_new_table(name):
                continue
            yield _violation(
                f"Dropping {kind} `{name}` with CASCADE also drops every object that depends on it (views, "
                "foreign keys of other tables...) without naming them.", name, f"DROP {kind.upper()} {name}")
    elif isinstance(node, ast.TruncateStmt) and is_cascade(node):
        for rel in node.relations or ():
            name = relation(rel)
            if not context.is_new_table(name):
                yield _violation(f"Truncating `{name}` with CASCADE also empties every table that references it "
                                 "by foreign key, without naming them.", name, f"TRUNCATE {name}")
    elif isinstance(node, ast.DropOwnedStmt) and is_cascade(node):
        for role in node.roles or ():
            name = getattr(role, "rolename", None) or "current role"
            yield _violation(f"Dropping everything owned by role `{name}` with CASCADE also drops every object "
                             "that depends on those objects, without naming them.", name, f"DROP OWNED BY {name}")
    elif isinstance(node, ast.AlterTableStmt):
        table = relation(node.relation)
        if context.is_new_table(table):
            return
        for cmd in alter_commands(node):
            if not is_cascade(cmd):
                continue
            if cmd.subtype == AlterTableType.AT_DropColumn:
                yield _violation(f"Dropping column `{table}.{cmd.name}` with CASCADE also drops the views, indexes "
                                 "and constraints that use it, without naming them.", f"{table}.{cmd.name}",
                                 f"ALTER TABLE {table} DROP COLUMN {cmd.name}")
            elif cmd.subtype == AlterTableType.AT_DropConstraint:
                yield _violation(f"Dropping constraint `{cmd.name}` of `{table}` with CASCADE also drops the foreign "
                                 "keys that depend on it, without naming them.", f"{table}.{cmd.name}",
                                 f"ALTER TABLE {table} DROP CONSTRAINT {cmd.name}")


def _violation(message: str, target: str, restrict_sql: str) -> Violation:
    return Violation(
        message=message,
        help="Drop the dependent objects explicitly, by name, first; then drop this one without CASCADE, so "
             "anything missed makes the migration fail instead of disappearing.",
        target=target,
        fix=("def upgrade():\n"
             "    # first drop each dependant by name (see pg_depend, or the error the next line gives), then:\n"
             f'    op.execute("{restrict_sql}")'),
    )
