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
    """Whether a sqlglot WHERE condition holds for every row (``1``, ``TRUE``, ``1 = 1``, ``TRUE IS TRUE``...).

    A condition that reads no column and no subquery has one value for the whole statement: it filters
    nothing unless it is written to be false (``0``, ``FALSE``, ``1 = 0``). A bound parameter reads as NULL
    here (its value is not known), so ``WHERE %s`` counts as always true: a WHERE clause that does not
    look at the rows cannot choose between them.
    """
    import sqlglot.expressions as exp

    if isinstance(node, exp.Where):
        node = node.this
    while isinstance(node, exp.Paren):
        node = node.this
    if _reads_no_row(node):
        return _constant_value(node) is not False
    if isinstance(node, exp.And):
        return glot_is_constant_true(node.this) and glot_is_constant_true(node.expression)
    if isinstance(node, exp.Or):
        return glot_is_constant_true(node.this) or glot_is_constant_true(node.expression)
    if isinstance(node, exp.EQ) and isinstance(node.this, exp.Column) and isinstance(node.expression, exp.Column):
        return bool(node.this.sql() == node.expression.sql())
    return False


def _reads_no_row(node: Any) -> bool:
    import sqlglot.expressions as exp

    return node.find(exp.Column, exp.Select, exp.Subquery, exp.Star) is None


def _constant_value(node: Any) -> bool | None:
    """The truth of a condition that reads no row, as MySQL evaluates it; None when not worked out here."""
    import sqlglot.expressions as exp

    while isinstance(node, exp.Paren):
        node = node.this
    if isinstance(node, exp.Boolean):
        return bool(node.this)
    if isinstance(node, exp.Literal):
        value = _glot_value(node)
        return bool(_as_number(value)) if value is not None else None
    if isinstance(node, exp.Not):
        inner = _constant_value(node.this)
        return None if inner is None else not inner
    if isinstance(node, exp.And):
        a, b = _constant_value(node.this), _constant_value(node.expression)
        return False if False in (a, b) else (True if a and b else None)
    if isinstance(node, exp.Or):
        a, b = _constant_value(node.this), _constant_value(node.expression)
        return True if True in (a, b) else (False if a is False and b is False else None)
    if isinstance(node, (exp.EQ, exp.NEQ, exp.GT, exp.LT, exp.GTE, exp.LTE)):
        left, right = node.this, node.expression
        if not (isinstance(left, exp.Literal) and isinstance(right, exp.Literal)):
            return None
        x, y = _glot_value(left), _glot_value(right)
        if left.is_string != right.is_string:  # MySQL compares a string with a number as numbers
            x, y = _as_number(x), _as_number(y)
        try:
            return bool({exp.EQ: x == y, exp.NEQ: x != y, exp.GT: x > y, exp.LT: x < y,
                         exp.GTE: x >= y, exp.LTE: x <= y}[type(node)])
        except TypeError:
            return None
    return None


def _as_number(value: Any) -> float:
    """MySQL's numeric reading of a value: a string counts by its leading number (``'1abc'`` is 1, ``'x'`` 0)."""
    if isinstance(value, (int, float)):
        return float(value)
    text, digits = str(value).strip(), ""
    for char in text:
        if char.isdigit() or (char in "+-." and not digits.strip("+-")) or (char == "." and "." not in digits):
            digits += char
        else:
            break
    try:
        return float(digits)
    except ValueError:
        return 0.0


def _glot_value(literal: Any) -> Any:
    if literal.is_string:
        return literal.this
    try:
        return float(literal.this)
    except ValueError:
        return literal.this


#: Unquoted words after CREATE that name another kind of object than a trigger or an event.
_OTHER_OBJECTS = {"TABLE", "VIEW", "INDEX", "PROCEDURE", "FUNCTION", "DATABASE", "SCHEMA", "USER", "ROLE",
                  "SEQUENCE", "SERVER", "TABLESPACE", "AGGREGATE", "PACKAGE"}


def glot_trigger_or_event(sql: str) -> tuple[str, str, str] | None:
    """``(kind, name, table)`` of a MySQL/MariaDB ``CREATE TRIGGER`` (kind ``trigger``, ``table`` the one it is
    on) or ``CREATE EVENT`` (kind ``event``, ``table`` empty); None for any other statement.

    Read from the tokens, which sqlglot gives for these statements it keeps as text: ``OR REPLACE``,
    ``DEFINER = ...`` and ``IF NOT EXISTS`` are skipped; names are given as written, without their quotes
    (``shop.Orders``).
    """
    import sqlglot
    from sqlglot.tokens import TokenType

    try:
        tokens = sqlglot.Dialect.get_or_raise("mysql").tokenize(sql)
    except sqlglot.errors.TokenError:
        return None
    if not tokens or tokens[0].token_type != TokenType.CREATE:
        return None
    quoted = {TokenType.IDENTIFIER, TokenType.STRING}
    for index, token in enumerate(tokens[1:16], start=1):
        word = token.text.upper() if token.token_type not in quoted else ""
        if word in _OTHER_OBJECTS:
            return None
        if word in {"TRIGGER", "EVENT"}:
            name, after = _dotted_name(tokens, _past_if_not_exists(tokens, index + 1))
            if word == "EVENT":
                return "event", name, ""
            on = next((i for i in range(after, len(tokens)) if tokens[i].token_type == TokenType.ON), None)
            table = _dotted_name(tokens, on + 1)[0] if on is not None else ""
            return "trigger", name, table
    return None


def _past_if_not_exists(tokens: list[Any], index: int) -> int:
    words = [t.text.upper() for t in tokens[index:index + 3]]
    return index + 3 if words == ["IF", "NOT", "EXISTS"] else index


def _dotted_name(tokens: list[Any], index: int) -> tuple[str, int]:
    """The name ``a.b`` starting at token ``index``, and the index of the token after it."""
    from sqlglot.tokens import TokenType

    parts: list[str] = []
    while index < len(tokens):
        token = tokens[index]
        if token.token_type == TokenType.DOT and parts:
            index += 1
            continue
        if token.token_type in {TokenType.ON, TokenType.L_PAREN} or (parts and tokens[index - 1].token_type
                                                                     != TokenType.DOT):
            break
        parts.append(token.text)
        index += 1
    return ".".join(parts), index
