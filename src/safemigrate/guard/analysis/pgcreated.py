"""What a PostgreSQL statement creates: the names a revision makes new, so rules can leave them alone.

Dropping, restarting or giving away a table, view, sequence or schema created earlier in the same
revision destroys nothing anyone used; the same change to an existing one is what the rules report.
"""

from __future__ import annotations

from typing import Any

from pglast import ast

from safemigrate.guard.analysis.pgast import (
    AlterTableType,
    ConstrType,
    ObjectType,
    alter_commands,
    column_constraints,
    column_sequence,
    relation,
    role_name,
    type_name,
)

_SERIAL_TYPES = {"serial", "serial2", "serial4", "serial8", "smallserial", "bigserial"}


def learn_created(node: Any, context: Any) -> None:
    """Record in ``context`` the table, view, sequence or schema that statement ``node`` creates.

    A table's serial and identity columns create a sequence too, named as PostgreSQL names it
    (``<table>_<column>_seq``). ``CREATE OR REPLACE VIEW`` and ``CREATE SEQUENCE`` or ``SCHEMA IF NOT
    EXISTS`` may create nothing: they make no name new.
    """
    if isinstance(node, ast.CreateStmt):
        _add_name(context.created_tables, node.relation)
        for column in node.tableElts or ():
            _learn_column_sequence(node.relation, column, context)
    elif isinstance(node, ast.CreateTableAsStmt):
        rel = node.into.rel if node.into else None
        _add_name(context.created_tables, rel)
        if node.objtype == ObjectType.OBJECT_MATVIEW:
            _add_name(context.created_views, rel)
    elif isinstance(node, ast.ViewStmt) and not node.replace:
        _add_name(context.created_views, node.view)
    elif isinstance(node, ast.CreateSeqStmt) and not node.if_not_exists:
        _add_name(context.created_sequences, node.sequence)
    elif isinstance(node, ast.CreateSchemaStmt) and not node.if_not_exists:
        name = node.schemaname or role_name(node.authrole)  # CREATE SCHEMA AUTHORIZATION r names it r
        context.created_schemas.add(name.lower())
    elif isinstance(node, ast.AlterTableStmt):
        for cmd in alter_commands(node):
            if cmd.subtype == AlterTableType.AT_AddColumn:
                _learn_column_sequence(node.relation, cmd.def_, context)


def _learn_column_sequence(rel: Any, column: Any, context: Any) -> None:
    if rel is None or not isinstance(column, ast.ColumnDef):
        return
    serial = column.typeName is not None and type_name(column.typeName) in _SERIAL_TYPES
    if serial or column_constraints(column, ConstrType.CONSTR_IDENTITY):
        for table in {rel.relname or "", relation(rel)}:
            context.created_sequences.add(column_sequence(table, column.colname or "").lower())


def _add_name(names: set[str], rel: Any) -> None:
    """Add a RangeVar's ``name`` (and ``schema.name``) to ``names``, lower case."""
    if rel is None:
        return
    names.add((rel.relname or "").lower())
    if rel.schemaname:
        names.add(f"{rel.schemaname}.{rel.relname}".lower())
