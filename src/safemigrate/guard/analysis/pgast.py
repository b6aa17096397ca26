"""Names, types and subcommands of pglast AST nodes: the basics every PostgreSQL rule uses."""

from __future__ import annotations

from typing import Any

from pglast import ast
from pglast.enums import AlterTableType, ConstrType, ObjectType  # noqa: F401 - re-exported for rules
from pglast.enums import RoleSpecType as _RoleSpecType
from pglast.parser import ParseError as _ParseError

from safemigrate.guard.analysis.sql import parse_sql as _parse_sql


def relation(node: Any) -> str:
    """``schema.table`` (or ``table``) of a RangeVar, lower case as PostgreSQL folds it."""
    if node is None:
        return ""
    name = node.relname or ""
    return f"{node.schemaname}.{name}" if getattr(node, "schemaname", None) else name


def table_of(name: str) -> str:
    """The bare table name of ``schema.table``."""
    return name.rsplit(".", 1)[-1]


def alter_commands(node: Any) -> list[Any]:
    """The AlterTableCmd items of an ALTER TABLE statement (empty for anything else)."""
    if isinstance(node, ast.AlterTableStmt):
        return [cmd for cmd in (node.cmds or ()) if isinstance(cmd, ast.AlterTableCmd)]
    return []


def type_name(node: Any) -> str:
    """A TypeName as text: ``varchar``, ``int8``, ``numeric``... (pg_catalog prefix dropped)."""
    if node is None:
        return ""
    names = [n.sval for n in node.names if hasattr(n, "sval")]
    names = [n for n in names if n != "pg_catalog"]
    return ".".join(names).lower()


def type_modifiers(node: Any) -> list[int]:
    """Integer type modifiers: ``varchar(40)`` -> [40], ``numeric(10, 2)`` -> [10, 2]."""
    mods: list[int] = []
    for item in node.typmods or ():
        value = getattr(item, "val", None)
        ival = getattr(value, "ival", None)
        if ival is not None:
            mods.append(ival)
    return mods


def string_values(nodes: Any) -> list[str]:
    return [n.sval for n in nodes or () if hasattr(n, "sval")]


def column_constraints(column: Any, *kinds: Any) -> list[Any]:
    """The Constraints of a ColumnDef, only those of ``kinds`` when given."""
    return [c for c in column.constraints or ()
            if isinstance(c, ast.Constraint) and (not kinds or c.contype in kinds)]


def option_enabled(options: Any, name: str) -> bool:
    """Whether a list of DefElem options turns ``name`` on: ``(ANALYZE)``, ``(FULL true)``, ``(CONCURRENTLY 1)``.

    The first option of that name decides; an option not given is off.
    """
    for option in options or ():
        if isinstance(option, ast.DefElem) and option.defname == name:
            value = getattr(option.arg, "sval", None) or getattr(option.arg, "boolval", None)
            return option.arg is None or str(value).lower() not in {"false", "off", "0", "f", "no"}
    return False


def role_name(spec: Any) -> str:
    """The role a RoleSpec names: ``reporting``, or ``current_user``, ``session_user``, ``current_role``, ``public``."""
    if spec is None:
        return ""
    if spec.roletype == _RoleSpecType.ROLESPEC_CSTRING:
        return spec.rolename or ""
    return spec.roletype.name.removeprefix("ROLESPEC_").lower()


def regclass_name(text: str) -> str:
    """The relation a regclass literal names, as PostgreSQL reads it: ``'public."Orders_seq"'`` is
    ``public.Orders_seq``, ``'Orders_seq'`` is ``orders_seq``. Text that is not one name is given back as it is.
    """
    try:
        raw = _parse_sql(f"SELECT FROM {text}")
    except _ParseError:
        return text
    select = raw[0].stmt if len(raw) == 1 else None
    tables: list[Any] = list(getattr(select, "fromClause", None) or ())
    if (not isinstance(select, ast.SelectStmt) or len(tables) != 1 or not isinstance(tables[0], ast.RangeVar)
            or tables[0].alias is not None):
        return text
    return relation(tables[0])


def column_sequence(table: str, column: str) -> str:
    """The sequence PostgreSQL creates for serial or identity column ``column`` of ``table``: ``orders_id_seq``
    (``app.orders_id_seq`` for ``app.orders``)."""
    schema, dot, bare = table.rpartition(".")
    return f"{schema}{dot}{bare}_{column}_seq"
