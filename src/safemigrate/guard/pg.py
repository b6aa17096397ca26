"""Small helpers over pglast AST nodes, shared by PostgreSQL rules."""

from __future__ import annotations

from typing import Any

from pglast import ast
from pglast.enums import AlterTableType, ConstrType, ObjectType  # noqa: F401 - re-exported for rules


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


# --- Walking statements, including the ones DO blocks, functions and rules run -----------------
# Appended for the destructive-change rules; the helpers above are unchanged.

import dataclasses as _dataclasses
import functools as _functools
import re as _re
from collections.abc import Iterator as _Iterator

import pglast as _pglast
from pglast.enums import DropBehavior as _DropBehavior
from pglast.parser import ParseError as _ParseError
from pglast.parser import scan as _scan


def executed_nodes(node: Any) -> _Iterator[Any]:
    """The nodes of ``node`` that take effect when the statement runs.

    Depth first, in source order, skipping what only runs later (function bodies, rule
    actions: see :func:`statements_run`) and plain EXPLAIN, which plans without
    executing (EXPLAIN ANALYZE does execute).
    """
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, (list, tuple)):
            stack.extend(reversed(item))
            continue
        if not isinstance(item, ast.Node) or isinstance(item, (ast.CreateFunctionStmt, ast.RuleStmt, ast.DoStmt)):
            continue
        if isinstance(item, ast.ExplainStmt) and not _explain_analyzes(item):
            continue
        yield item
        children = [getattr(item, name, None) for name in item.__slots__]
        stack.extend(reversed([c for c in children if isinstance(c, (ast.Node, list, tuple))]))


def _explain_analyzes(node: Any) -> bool:
    for option in node.options or ():
        if isinstance(option, ast.DefElem) and option.defname == "analyze":
            value = getattr(option.arg, "sval", None) or getattr(option.arg, "boolval", None)
            return option.arg is None or str(value).lower() not in {"false", "off", "0", "f", "no"}
    return False


def is_cascade(node: Any) -> bool:
    """Whether a DROP / TRUNCATE / ALTER TABLE subcommand says CASCADE."""
    return getattr(node, "behavior", None) == _DropBehavior.DROP_CASCADE


def object_name(obj: Any) -> str:
    """The dotted name of an item of ``DropStmt.objects`` (names, TypeName, ObjectWithArgs, String)."""
    if isinstance(obj, ast.String):
        return obj.sval
    if isinstance(obj, ast.TypeName):
        return ".".join(n.sval for n in obj.names if hasattr(n, "sval"))
    if isinstance(obj, ast.ObjectWithArgs):
        return ".".join(string_values(obj.objname))
    if isinstance(obj, (list, tuple)):
        return ".".join(string_values(obj))
    return str(getattr(obj, "sval", "") or "")


def placed(violation: Any, where: str | None) -> Any:
    """``violation`` reworded for a statement that a DO block, function or rule runs."""
    if where is None:
        return violation
    message = violation.message[:1].lower() + violation.message[1:]
    return _dataclasses.replace(violation, message=f"{where}, {message}", fix=None)


def statements_run(node: Any, context: Any, *, _depth: int = 0) -> _Iterator[tuple[Any, str | None, Any]]:
    """``(statement, where, context)`` for ``node`` itself and for every statement it carries.

    ``where`` is None for ``node`` itself, else the lead-in of a message about a
    statement run later or elsewhere: "In this DO block", "When function `f` is
    called", "When rule `r` fires". The SQL of PL/pgSQL bodies (static
    statements and EXECUTE of literal strings) is parsed again with pglast.
    ``context`` is, for carried statements, a copy that knows the tables
    created earlier in the same body.
    """
    yield node, None, context
    if _depth > 3:
        return
    for inner, where in _carried(node):
        inner_context = _dataclasses.replace(context, created_tables=set(context.created_tables))
        for statement in inner:
            for found, found_where, found_context in statements_run(statement, inner_context, _depth=_depth + 1):
                yield found, found_where or where, found_context
            _learn_created(statement, inner_context)


def _learn_created(node: Any, context: Any) -> None:
    if isinstance(node, ast.CreateStmt):
        rel = node.relation
    elif isinstance(node, ast.CreateTableAsStmt):
        rel = node.into.rel
    else:
        return
    context.created_tables.add((rel.relname or "").lower())
    if rel.schemaname:
        context.created_tables.add(f"{rel.schemaname}.{rel.relname}".lower())


def _carried(node: Any) -> _Iterator[tuple[tuple[Any, ...], str]]:
    if isinstance(node, ast.DoStmt):
        options = {o.defname: o.arg for o in node.args or () if isinstance(o, ast.DefElem)}
        language = (getattr(options.get("language"), "sval", None) or "plpgsql").lower()
        body = getattr(options.get("as"), "sval", None)
        if body and language == "plpgsql":
            yield _plpgsql_statements(_dollar_quoted("DO ", body), body), "In this DO block"
    elif isinstance(node, ast.CreateFunctionStmt):
        kind = "procedure" if node.is_procedure else "function"
        where = f"When {kind} `{'.'.join(string_values(node.funcname))}` is called"
        options = {o.defname: o.arg for o in node.options or () if isinstance(o, ast.DefElem)}
        language = (getattr(options.get("language"), "sval", None) or "sql").lower()
        if node.sql_body:
            yield tuple(s for part in node.sql_body for s in (part if isinstance(part, (list, tuple)) else (part,))
                        if isinstance(s, ast.Node)), where
            return
        body = options.get("as")
        source = body[0].sval if isinstance(body, (list, tuple)) and body and hasattr(body[0], "sval") else None
        if source is None:
            return
        if language == "sql":
            yield _sql_statements(source), where
        elif language == "plpgsql":
            yield _plpgsql_statements(_function_source(node), source), where
    elif isinstance(node, ast.RuleStmt):
        actions = tuple(a for a in node.actions or () if isinstance(a, ast.Node))
        if actions:
            yield actions, f"When rule `{node.rulename}` fires"


def _dollar_quoted(prefix: str, body: str) -> str:
    tag = "body"
    while f"${tag}$" in body:
        tag += "_"
    return f"{prefix}${tag}${body}${tag}$"


def _function_source(node: Any) -> str:
    from pglast.stream import RawStream

    try:
        return RawStream()(node)
    except Exception:  # noqa: BLE001 - a node pglast cannot print: fall back to the body alone
        return ""


@_functools.lru_cache(maxsize=256)
def _sql_statements(source: str) -> tuple[Any, ...]:
    try:
        return tuple(raw.stmt for raw in _pglast.parse_sql(source))
    except _ParseError:
        return ()


@_functools.lru_cache(maxsize=256)
def _plpgsql_statements(source: str, body: str) -> tuple[Any, ...]:
    """Statements a PL/pgSQL DO block or function runs (``source``: its full DO/CREATE text)."""
    try:
        tree = _pglast.parse_plpgsql(source)
    except Exception:  # noqa: BLE001 - ParseError, or plain errors libpg_query raises for some bodies
        return _statements_by_scanning(body)
    found: list[Any] = []
    _collect_plpgsql(tree, found)
    return tuple(found)


_DYNAMIC = {"PLpgSQL_stmt_dynexecute": "query", "PLpgSQL_stmt_dynfors": "query",
            "PLpgSQL_stmt_return_query": "dynquery", "PLpgSQL_stmt_open": "dynquery"}


def _collect_plpgsql(tree: Any, found: list[Any]) -> None:
    if isinstance(tree, list):
        for item in tree:
            _collect_plpgsql(item, found)
        return
    if not isinstance(tree, dict):
        return
    for key, value in tree.items():
        if key == "PLpgSQL_expr" and isinstance(value, dict):
            if value.get("parseMode", 0) == 0 and value.get("query"):
                found.extend(_sql_statements(value["query"]))
            continue
        if key in _DYNAMIC and isinstance(value, dict):
            expr = (value.get(_DYNAMIC[key]) or {}).get("PLpgSQL_expr") or {}
            text = literal_sql(expr.get("query") or "")
            if text:
                found.extend(_sql_statements(text))
        _collect_plpgsql(value, found)


def literal_sql(expression: str) -> str | None:
    """The SQL a dynamic EXECUTE runs, when its expression is built from string literals.

    ``'DROP TABLE ' || 'users'`` gives ``DROP TABLE users``; ``format('DROP TABLE %I', t)``
    and ``'DROP TABLE ' || t`` give ``DROP TABLE "<t>"``: the unknown part becomes an
    identifier so the statement still parses and its kind is known.
    """
    try:
        raw = _pglast.parse_sql(f"SELECT {expression}")
    except _ParseError:
        return None
    target = raw[0].stmt.targetList[0].val if raw and getattr(raw[0].stmt, "targetList", None) else None
    folded = _fold(target)
    if folded is None or not folded[1]:
        return None
    return folded[0]


def _fold(node: Any) -> tuple[str, bool] | None:
    """(text, built from at least one literal) for a string expression."""
    if isinstance(node, ast.A_Const) and isinstance(node.val, ast.String):
        return node.val.sval, True
    if isinstance(node, ast.TypeCast):
        return _fold(node.arg)
    if isinstance(node, ast.A_Expr) and string_values(node.name) == ["||"]:
        left, right = _fold(node.lexpr), _fold(node.rexpr)
        if left is None or right is None:
            return None
        return left[0] + right[0], left[1] or right[1]
    if isinstance(node, ast.FuncCall):
        name = string_values(node.funcname)[-1].lower()
        args = list(node.args or ())
        if name == "format" and args and _fold(args[0]) and _fold(args[0])[1]:
            return _format(_fold(args[0])[0], args[1:]), True
        if name == "concat":
            parts = [_fold(a) for a in args]
            if all(parts):
                return "".join(p[0] for p in parts), any(p[1] for p in parts)
        if name in {"quote_ident", "quote_literal", "quote_nullable"} and args:
            return _fold(args[0]) if name == "quote_ident" else ("'x'", False)
    return _unknown(node), False


def _unknown(node: Any) -> str:
    from pglast.stream import RawStream

    try:
        text = RawStream()(node)
    except Exception:  # noqa: BLE001
        text = "dynamic"
    return '"<' + text.replace('"', "") + '>"'


def _format(template: str, args: list[Any]) -> str:
    values = iter(args)

    def substitute(match: _re.Match[str]) -> str:
        if match.group(0) == "%%":
            return "%"
        arg = next(values, None)
        folded = _fold(arg) if arg is not None else None
        if match.group(2) == "L":
            return "'" + folded[0].replace("'", "''") + "'" if folded and folded[1] else "NULL"
        return folded[0] if folded and folded[1] else _unknown(arg)

    return _re.sub(r"%%|%(\d+\$)?-?\d*([sIL])", substitute, template)


_INTO_STRICT = _re.compile(r"\bINTO\s+STRICT\b", _re.IGNORECASE)
_STATEMENT_KEYWORDS = {"DELETE_P", "DROP", "TRUNCATE", "UPDATE", "ALTER", "WITH", "INSERT"}


def _statements_by_scanning(source: str) -> tuple[Any, ...]:
    """Fallback for a body the PL/pgSQL parser rejects: the SQL statements found between semicolons."""
    data = source.encode()
    try:
        tokens = list(_scan(source))
    except _ParseError:
        return ()
    found: list[Any] = []
    start_token = None
    for token in tokens + [None]:
        if token is None or token.name == "ASCII_59":
            if start_token is not None:
                end = token.start if token is not None else len(data)
                chunk = data[start_token.start:end].decode(errors="replace")
                # PL/pgSQL's own "INTO STRICT target" is not SQL; plain "INTO target" parses as SELECT INTO
                found.extend(_sql_statements(_INTO_STRICT.sub("INTO", chunk)))
            start_token = None
        elif start_token is None and token.name in _STATEMENT_KEYWORDS:
            start_token = token
    return tuple(found)


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
            return float(value.fval)
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

        if node.boolop == BoolExprType.NOT_EXPR and len(node.args or ()) == 1:
            inner = _constant(node.args[0])
            return (not inner) if isinstance(inner, bool) else None
    return None


# --- sqlglot (MySQL, SQLite) counterparts, for the rules that also cover those dialects ---------


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
