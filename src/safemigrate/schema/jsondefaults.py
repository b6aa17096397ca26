"""Server defaults of PostgreSQL ``json`` columns, compared as JSON here instead of by the server.

Alembic's PostgreSQL comparison of server defaults asks the server whether
the two sides are equal (``SELECT '[]'::json = '[]'``), and ``json`` has no
equality operator: the comparison fails, for plain Alembic with
``compare_server_default=True`` as well (argilla-server). ``jsonb`` has one
and is left to Alembic.

While Alembic compares, each such column's default is stood in for
(:func:`compared_here`): by the database's own text when the two mean the
same JSON value (Alembic sees equal text and asks nothing), by no default
when they differ (Alembic reports the change without asking; the model's
default is put back into the operation). The models' defaults are restored
before anything is rendered. A stand-in, not a callable
``compare_server_default``: Alembic's path for a callable fails on
``Computed`` columns (see :mod:`safemigrate.schema.defaults`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from alembic.operations import ops as alembic_ops
from sqlalchemy import Column, DefaultClause, MetaData, inspect, literal_column
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Connection
from sqlalchemy.sql.elements import TextClause
from sqlalchemy.types import JSON, TypeDecorator

_CAST = re.compile(r"^\((.*)\)$|^(.*?)(::[a-z ]+)+$", re.DOTALL)


@dataclass
class _StandIn:
    column: Column[Any]
    model_default: DefaultClause
    differs: bool


@contextmanager
def compared_here(connection: Connection, metadata: MetaData | Iterable[MetaData]) -> Iterator[list[_StandIn]]:
    """Stand in for the server defaults of ``json`` columns while Alembic compares; restore them after."""
    columns = _json_columns(metadata) if connection.dialect.name == "postgresql" else []
    stand_ins: list[_StandIn] = []
    if columns:
        reflected = _database_defaults(connection, {c.table for c in columns})
        for column in columns:
            found = reflected.get((column.table.schema, column.table.name, column.name))
            if found is None:
                continue  # a new table or column, or no default in the database: Alembic asks nothing
            model_default = column.server_default
            assert isinstance(model_default, DefaultClause)
            same = same_json(found, _model_text(model_default))
            stand_ins.append(_StandIn(column, model_default, differs=not same))
            column.server_default = DefaultClause(literal_column(found)) if same else None
    try:
        yield stand_ins
    finally:
        for item in stand_ins:
            item.column.server_default = item.model_default


def restore_in_ops(upgrade_ops: alembic_ops.UpgradeOps, stand_ins: list[_StandIn]) -> None:
    """Put the model's default back into the changes Alembic found for the columns stood in for."""
    differing = {(i.column.table.schema, i.column.table.name, i.column.name): i for i in stand_ins if i.differs}
    if not differing:
        return
    for container in upgrade_ops.ops:
        if not isinstance(container, alembic_ops.ModifyTableOps):
            continue
        for op in container.ops:
            if isinstance(op, alembic_ops.AlterColumnOp):
                item = differing.get((container.schema, container.table_name, op.column_name))
                if item is not None and op.modify_server_default is not False:
                    op.modify_server_default = item.model_default


def same_json(database: str, model: str | None) -> bool:
    """Whether a reflected default and a model's default are the same JSON value (or the same text)."""
    if model is None:
        return False
    left, right = _literal(database), _literal(model)
    try:
        return bool(json.loads(left) == json.loads(right))
    except ValueError:
        return " ".join(left.split()) == " ".join(right.split())


def _literal(text: str) -> str:
    """The value of a default's SQL text: casts, parentheses and the quotes of a string literal removed."""
    text = text.strip()
    while (match := _CAST.match(text)) is not None:
        inner = match.group(1) if match.group(1) is not None else match.group(2)
        if inner is None or inner == text:
            break
        text = inner.strip()
    if len(text) >= 2 and text[0] == text[-1] == "'":
        return text[1:-1].replace("''", "'")
    return text


def _model_text(default: DefaultClause) -> str | None:
    arg = default.arg
    if isinstance(arg, str):
        return f"'{arg}'"
    if isinstance(arg, TextClause):
        return arg.text
    return None  # a SQL expression: compared as different, which Alembic would report too


def _json_columns(metadata: MetaData | Iterable[MetaData]) -> list[Column[Any]]:
    models = [metadata] if isinstance(metadata, MetaData) else list(metadata)
    return [column for md in models for table in md.tables.values() for column in table.columns
            if isinstance(column.server_default, DefaultClause) and _is_json(column.type)]


def _is_json(type_: Any) -> bool:
    while isinstance(type_, TypeDecorator):
        type_ = type_.impl_instance
    return isinstance(type_, JSON) and not isinstance(type_, JSONB)


def _database_defaults(connection: Connection, tables: set[Any]) -> dict[tuple[str | None, str, str], str]:
    """(schema, table, column) -> the default's text, for the columns of ``tables`` that have one."""
    inspector = inspect(connection)
    found: dict[tuple[str | None, str, str], str] = {}
    for table in tables:
        if not inspector.has_table(table.name, schema=table.schema):
            continue  # not in the database (yet): Alembic creates it, with the model's default
        for column in inspector.get_columns(table.name, schema=table.schema):
            if column.get("default") is not None:
                found[(table.schema, table.name, column["name"])] = str(column["default"])
    return found
