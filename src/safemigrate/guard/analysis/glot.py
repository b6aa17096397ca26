"""sqlglot (MySQL, SQLite) counterparts of the PostgreSQL helpers, for rules that cover those dialects."""

from __future__ import annotations

from typing import Any


def glot_table(table: Any) -> str:
    """``db.table`` (or ``table``) of a sqlglot Table expression."""
    if table is None:
        return ""
    name = getattr(table, "name", "") or ""
    db = getattr(table, "db", "") or ""
    return f"{db}.{name}" if db else name


def glot_is_constant_true(node: Any) -> bool:
    """Whether a sqlglot WHERE condition holds for every row (``1``, ``TRUE``, ``1 = 1``...)."""
    import sqlglot.expressions as exp

    if isinstance(node, exp.Where):
        node = node.this
    while isinstance(node, exp.Paren):
        node = node.this
    if isinstance(node, exp.Boolean):
        return bool(node.this)
    if isinstance(node, exp.Literal):
        if node.is_string:
            return False
        try:
            return float(node.this) != 0
        except ValueError:
            return False
    if isinstance(node, exp.Not):
        inner = node.this
        while isinstance(inner, exp.Paren):
            inner = inner.this
        return (isinstance(inner, exp.Boolean) and not inner.this) or (
            isinstance(inner, exp.Literal) and not inner.is_string and inner.this in {"0", "0.0"})
    if isinstance(node, exp.And):
        return glot_is_constant_true(node.this) and glot_is_constant_true(node.expression)
    if isinstance(node, exp.Or):
        return glot_is_constant_true(node.this) or glot_is_constant_true(node.expression)
    if isinstance(node, (exp.EQ, exp.NEQ, exp.GT, exp.LT, exp.GTE, exp.LTE)):
        left, right = node.this, node.expression
        if isinstance(node, exp.EQ) and isinstance(left, exp.Column) and isinstance(right, exp.Column):
            return left.sql() == right.sql()
        if not (isinstance(left, exp.Literal) and isinstance(right, exp.Literal)):
            return False
        a, b = _glot_value(left), _glot_value(right)
        try:
            return {exp.EQ: a == b, exp.NEQ: a != b, exp.GT: a > b, exp.LT: a < b,
                    exp.GTE: a >= b, exp.LTE: a <= b}[type(node)]
        except TypeError:
            return False
    return False


def _glot_value(literal: Any) -> Any:
    if literal.is_string:
        return literal.this
    try:
        return float(literal.this)
    except ValueError:
        return literal.this


