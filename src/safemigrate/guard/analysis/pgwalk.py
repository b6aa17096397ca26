"""Walking statements: what runs now, what DO blocks, functions and rules run later, constant truth."""

from __future__ import annotations

import dataclasses as _dataclasses
import functools as _functools
from collections.abc import Iterator as _Iterator
from typing import Any

import pglast as _pglast
from pglast import ast
from pglast.enums import DropBehavior as _DropBehavior
from pglast.parser import ParseError as _ParseError
from pglast.parser import scan as _scan

from safemigrate.guard.analysis.glot import glot_is_constant_true, glot_table
from safemigrate.guard.analysis.pgast import (
    AlterTableType,
    alter_commands,
    column_constraints,
    option_enabled,
    relation,
    string_values,
)
from safemigrate.guard.analysis.pgcreated import learn_created
from safemigrate.guard.analysis.pgtruth import is_constant_true
from safemigrate.guard.analysis.sql import CARRIERS
from safemigrate.guard.analysis.sql import parse_sql as _parse_sql

_walked: tuple[Any, list[Any]] | None = None  # the last statement walked, and its nodes


def executed_nodes(node: Any) -> _Iterator[Any]:
    """The nodes of ``node`` that take effect when the statement runs.

    Depth first, in source order, skipping what only runs later (function bodies, rule
    actions: see :func:`statements_run`) and plain EXPLAIN, which plans without
    executing (EXPLAIN ANALYZE does execute). Several rules walk the same statement
    one after the other, so the last walk is kept.
    """
    global _walked
    if _walked is not None and _walked[0] is node:
        return iter(_walked[1])
    nodes = _walk(node)
    _walked = (node, nodes)
    return iter(nodes)


def _walk(node: Any) -> list[Any]:
    found = []
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
        found.append(item)
        children = [getattr(item, name, None) for name in _child_slots(type(item))]
        stack.extend(reversed([c for c in children if isinstance(c, (ast.Node, list, tuple))]))
    return found


_CHILD_SLOTS: dict[type, tuple[str, ...]] = {}


def _child_slots(cls: type) -> tuple[str, ...]:
    """The attributes of a node class that can hold nodes or lists: not its strings, numbers and enums."""
    names = _CHILD_SLOTS.get(cls)
    if names is None:
        slots = cls.__slots__  # type: ignore[attr-defined]
        names = tuple(name for name in slots if not isinstance(slots, dict) or _may_hold_nodes(slots[name]))
        _CHILD_SLOTS[cls] = names
    return names


def _may_hold_nodes(info: Any) -> bool:
    kinds = getattr(info, "py_type", None)
    if kinds is None:
        return True  # not pglast's usual slot description: walk it
    for kind in kinds if isinstance(kinds, tuple) else (kinds,):
        if kind in (list, tuple) or (isinstance(kind, type) and issubclass(kind, ast.Node)):
            return True
    return False


def _explain_analyzes(node: Any) -> bool:
    return option_enabled(node.options, "analyze")


def reads_rows(expr: Any) -> bool:
    """Whether an expression reads a column (or a PL/pgSQL variable, which parses as one) or a subquery:
    its value comes from the data, not from the statement's text."""
    return any(isinstance(item, (ast.ColumnRef, ast.SubLink)) for item in _walk(expr))


def is_cascade(node: Any) -> bool:
    """Whether a DROP / TRUNCATE / ALTER TABLE subcommand says CASCADE."""
    return getattr(node, "behavior", None) == _DropBehavior.DROP_CASCADE


def object_name(obj: Any) -> str:
    """The dotted name of an item of ``DropStmt.objects`` (names, TypeName, ObjectWithArgs, String)."""
    if isinstance(obj, ast.String):
        return obj.sval or ""
    if isinstance(obj, ast.TypeName):
        return ".".join(n.sval for n in obj.names or () if hasattr(n, "sval"))
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


def looks_at(*node_types: type) -> Any:
    """Declare the statement types (pglast node classes) a PostgreSQL rule's check looks at.

    Put it under ``@rule(...)``. The engine then calls the check only for statements of
    those types, and for DO blocks, functions and rules (:data:`CARRIERS`), whose bodies
    may run any statement; the check must still test the type of what it looks at.
    Other dialects' statements always reach the check.
    """
    def declare(check: Any) -> Any:
        check.node_types = node_types
        return check

    return declare


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
    if _depth > 3 or not isinstance(node, CARRIERS):
        return
    for inner, where in _carried(node):
        inner_context = _dataclasses.replace(context, created_tables=set(context.created_tables),
                                             created_views=set(context.created_views),
                                             created_sequences=set(context.created_sequences),
                                             created_schemas=set(context.created_schemas))
        for statement in inner:
            for found, found_where, found_context in statements_run(statement, inner_context, _depth=_depth + 1):
                yield found, found_where or where, found_context
            learn_created(statement, inner_context)


def existing_table_commands(statement: Any, context: Any, *subtypes: Any,
                            definition: Any = None) -> _Iterator[tuple[Any, Any, str, str | None, Any]]:
    """``(cmd, alter, table, where, context)`` for each ALTER TABLE subcommand ``statement`` runs on a table
    that was not created earlier in the revision, itself or through a DO block, function or rule.

    Only subcommands of ``subtypes`` (AlterTableType members; every one when none is given) and, with
    ``definition`` (a node class or a tuple of them), only those whose ``def_`` is one. ``alter`` is the
    AlterTableStmt (``alter.relation`` is the RangeVar fixes name), ``table`` its ``schema.table``;
    ``where`` and ``context`` are as :func:`statements_run` gives them: pass ``where`` to :func:`placed`.
    """
    for node, where, ctx in statements_run(statement.node, context):
        if not isinstance(node, ast.AlterTableStmt):
            continue
        table = relation(node.relation)
        if ctx.is_new_table(table):
            continue
        for cmd in alter_commands(node):
            if subtypes and cmd.subtype not in subtypes:
                continue
            if definition is not None and not isinstance(cmd.def_, definition):
                continue
            yield cmd, node, table, where, ctx


def added_constraints(statement: Any, context: Any,
                      *contypes: Any) -> _Iterator[tuple[Any, Any, Any, str, str | None, Any]]:
    """``(constraint, column, alter, table, where, context)`` for each constraint of ``contypes`` (ConstrType
    members) that ``statement`` adds to an existing table: by ``ALTER TABLE ... ADD CONSTRAINT`` (``column`` is
    None) or inline in ``ADD COLUMN`` (``column`` is the ColumnDef). The rest as :func:`existing_table_commands`.
    """
    for cmd, alter, table, where, ctx in existing_table_commands(statement, context, AlterTableType.AT_AddConstraint,
                                                                 AlterTableType.AT_AddColumn):
        if cmd.subtype == AlterTableType.AT_AddConstraint and isinstance(cmd.def_, ast.Constraint):
            if cmd.def_.contype in contypes:
                yield cmd.def_, None, alter, table, where, ctx
        elif cmd.subtype == AlterTableType.AT_AddColumn and isinstance(cmd.def_, ast.ColumnDef):
            for constraint in column_constraints(cmd.def_, *contypes):
                yield constraint, cmd.def_, alter, table, where, ctx


_GLOT_WRITES = {ast.DeleteStmt: "Delete", ast.UpdateStmt: "Update"}
# Statements that can hold a DELETE or UPDATE only inside an expression's subquery, where
# PostgreSQL rejects it ("WITH clause containing a data-modifying statement must be at the
# top level"): not walked. They are most of a migration, and the largest trees.
_NO_ROW_WRITES = (ast.CreateStmt, ast.IndexStmt, ast.AlterTableStmt)


def writes_to_every_row(statement: Any, context: Any, kind: Any) -> _Iterator[tuple[Any, str, str | None, str | None]]:
    """``(node, table, always_true, where)`` for each DELETE or UPDATE (``kind``: ``ast.DeleteStmt`` or
    ``ast.UpdateStmt``) that ``statement`` runs on an existing table with no WHERE clause (``always_true`` is
    None) or an always-true one (``always_true`` is its text).

    PostgreSQL: found wherever it runs (a CTE, EXPLAIN ANALYZE, a DO block, an EXECUTE of a literal
    string, the body of a function or rule: see :func:`statements_run`); pass ``where`` to :func:`placed`.
    MySQL/SQLite: ``node`` is the sqlglot ``Delete``/``Update`` and ``where`` is None.
    """
    if statement.dialect == "postgresql":
        for top, where, ctx in statements_run(statement.node, context):
            if isinstance(top, _NO_ROW_WRITES):
                continue
            for node in executed_nodes(top):
                if not isinstance(node, kind):
                    continue
                name = relation(node.relation)
                if ctx.is_new_table(name):
                    continue
                if node.whereClause is None:
                    yield node, name, None, where
                elif is_constant_true(node.whereClause):
                    yield node, name, _clause_text(node.whereClause), where
        return
    import sqlglot.expressions as exp

    for node in statement.node.find_all(getattr(exp, _GLOT_WRITES[kind])):
        table = node.this if isinstance(node.this, exp.Table) else node.find(exp.Table)
        name = glot_table(table)
        if context.is_new_table(name) or any(j.args.get("on") for j in (table.args.get("joins") or ())):
            continue
        condition = node.args.get("where")
        if condition is None:
            yield node, name, None, None
        elif glot_is_constant_true(condition):
            yield node, name, condition.this.sql(dialect=statement.dialect), None


def _clause_text(node: Any) -> str:
    from pglast.stream import RawStream

    try:
        return RawStream()(node)
    except Exception:
        return "..."


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
    except Exception:
        return ""


@_functools.lru_cache(maxsize=256)
def _sql_statements(source: str) -> tuple[Any, ...]:
    try:
        return tuple(raw.stmt for raw in _parse_sql(source))
    except _ParseError:
        return ()


@_functools.lru_cache(maxsize=256)
def _plpgsql_statements(source: str, body: str) -> tuple[Any, ...]:
    """Statements a PL/pgSQL DO block or function runs (``source``: its full DO/CREATE text)."""
    try:
        tree = _pglast.parse_plpgsql(source)
    except Exception:
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
        raw = _parse_sql(f"SELECT {expression}")
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
        return node.val.sval or "", True
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
        template = _fold(args[0]) if args else None
        if name == "format" and template is not None and template[1]:
            return _format(template[0], args[1:]), True
        if name == "concat":
            folded = [_fold(a) for a in args]
            parts = [p for p in folded if p is not None]
            if len(parts) == len(folded):
                return "".join(p[0] for p in parts), any(p[1] for p in parts)
        if name in {"quote_ident", "quote_literal", "quote_nullable"} and args:
            return _fold(args[0]) if name == "quote_ident" else ("'x'", False)
    return _unknown(node), False


def _unknown(node: Any) -> str:
    from pglast.stream import RawStream

    try:
        text = RawStream()(node)
    except Exception:
        text = "dynamic"
    return '"<' + text.replace('"', "") + '>"'


def _format(template: str, args: list[Any]) -> str:
    """PostgreSQL's ``format()``: %s, %I and %L (with optional position/width), %% for a percent."""
    values = iter(args)
    out: list[str] = []
    i = 0
    while i < len(template):
        char = template[i]
        if char != "%":
            out.append(char)
            i += 1
            continue
        if template[i + 1:i + 2] == "%":
            out.append("%")
            i += 2
            continue
        j = i + 1
        while j < len(template) and (template[j].isdigit() or template[j] in "$-"):
            j += 1  # argument position (n$) and width flags do not change what is inserted
        kind = template[j:j + 1]
        if kind not in {"s", "I", "L"}:
            out.append(template[i:j])
            i = j
            continue
        arg = next(values, None)
        folded = _fold(arg) if arg is not None else None
        if kind == "L":
            out.append("'" + folded[0].replace("'", "''") + "'" if folded and folded[1] else "NULL")
        else:
            out.append(folded[0] if folded and folded[1] else _unknown(arg))
        i = j + 1
    return "".join(out)


_STATEMENT_KEYWORDS = {"DELETE_P", "DROP", "TRUNCATE", "UPDATE", "ALTER", "WITH", "INSERT"}


def _statements_by_scanning(source: str) -> tuple[Any, ...]:
    """Fallback for a body the PL/pgSQL parser rejects: the SQL statements found between semicolons."""
    try:
        tokens = list(_scan(source))
    except _ParseError:
        return ()
    found: list[Any] = []
    chunk: list[Any] = []  # tokens of the statement being collected
    for token in tokens + [None]:
        if token is None or token.name == "ASCII_59":
            if chunk:
                found.extend(_sql_statements(_chunk_text(source, chunk)))
            chunk = []
        elif chunk or token.name in _STATEMENT_KEYWORDS:
            chunk.append(token)
    return tuple(found)


def _chunk_text(source: str, tokens: list[Any]) -> str:
    """The statement's text (scanner offsets count characters), without PL/pgSQL's ``INTO STRICT``'s STRICT.

    Plain ``INTO target`` parses as SELECT INTO; ``STRICT`` is PL/pgSQL's own and is left out.
    """
    parts: list[str] = []
    position = tokens[0].start
    for before, token in zip([None, *tokens], tokens, strict=False):
        if before is not None and before.name == "INTO" and source[token.start:token.end + 1].upper() == "STRICT":
            parts.append(source[position:token.start])
            position = token.end + 1
    parts.append(source[position:tokens[-1].end + 1])
    return "".join(parts)
