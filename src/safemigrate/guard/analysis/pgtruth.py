"""Whether a condition is constant-true (``1 = 1``, ``true``, ``'a' = 'a'``, ``id = id``...).

A WHERE clause with such a condition filters nothing."""

from __future__ import annotations

from typing import Any

from pglast import ast

from safemigrate.guard.analysis.pgast import string_values, type_name


def is_constant_true(node: Any) -> bool:
    """Whether a WHERE clause holds for every row: ``true``, ``1 = 1``, ``'a' = 'a'``, ``NOT false``..."""
    return _truth(node) is True


def _truth(node: Any) -> bool | None:
    """True or False when a condition is the same for every row, None when it depends on the row."""
    if isinstance(node, ast.BoolExpr):
        from pglast.enums import BoolExprType

        values = [_truth(a) for a in node.args or ()]
        if node.boolop == BoolExprType.AND_EXPR:
            return False if False in values else True if all(v is True for v in values) else None
        if node.boolop == BoolExprType.OR_EXPR:
            return True if True in values else False if all(v is False for v in values) else None
        return (not values[0]) if len(values) == 1 and values[0] is not None else None
    if isinstance(node, ast.SubLink):
        from pglast.enums import SubLinkType

        select = node.subselect
        if (node.subLinkType == SubLinkType.EXISTS_SUBLINK and isinstance(select, ast.SelectStmt)
                and not select.fromClause and not select.whereClause and not select.limitCount
                and not select.havingClause):
            return True
        return None
    if isinstance(node, ast.NullTest):
        from pglast.enums import NullTestType

        value = _constant(node.arg)
        if value is None:
            return None
        return (value is not _NULL) == (node.nulltesttype == NullTestType.IS_NOT_NULL)
    if isinstance(node, ast.A_Expr):
        from pglast.enums import A_Expr_Kind

        op = "".join(string_values(node.name))
        if node.kind != A_Expr_Kind.AEXPR_OP:
            return None
        if op == "=" and isinstance(node.lexpr, ast.ColumnRef) and isinstance(node.rexpr, ast.ColumnRef):
            return True if string_values(node.lexpr.fields) == string_values(node.rexpr.fields) else None
        left, right = _constant(node.lexpr), _constant(node.rexpr)
        if left is None or right is None or _NULL in (left, right):
            return None
        try:
            return {"=": left == right, "<>": left != right, "!=": left != right, "<": left < right,
                    ">": left > right, "<=": left <= right, ">=": left >= right}.get(op)
        except TypeError:
            return None
    value = _constant(node)
    return value if isinstance(value, bool) else None


_NULL = object()
_TRUE_WORDS = {"t", "true", "y", "yes", "on", "1"}
_FALSE_WORDS = {"f", "false", "n", "no", "off", "0"}


def _constant(node: Any) -> Any:
    """The Python value of a constant expression, None when it is not one."""
    if isinstance(node, ast.A_Const):
        if node.isnull:
            return _NULL
        value = node.val
        if isinstance(value, ast.Boolean):
            return bool(value.boolval)
        if isinstance(value, ast.Integer):
            return value.ival
        if isinstance(value, ast.Float):
            return float(value.fval or 0)
        if isinstance(value, ast.String):
            return value.sval
        return None
    if isinstance(node, ast.TypeCast):
        inner = _constant(node.arg)
        if type_name(node.typeName) in {"bool", "boolean"} and isinstance(inner, (str, int)):
            word = str(inner).strip().lower()
            return True if word in _TRUE_WORDS else False if word in _FALSE_WORDS else None
        return inner
    if isinstance(node, ast.BoolExpr):
        from pglast.enums import BoolExprType

        args = node.args or ()
        if node.boolop == BoolExprType.NOT_EXPR and len(args) == 1:
            inner = _constant(args[0])
            return (not inner) if isinstance(inner, bool) else None
    return None


