"""Statements parsed by a real SQL parser: pglast for PostgreSQL, sqlglot elsewhere.

Captured statements may carry DBAPI placeholders (``%(name)s``, ``%s``,
``?``) that are not SQL. They are replaced by ``NULL`` using the parser's
own tokenizer, which knows string literals, comments and dollar quotes;
the structure rules look at (a DELETE's WHERE clause, an ALTER's subcommands)
is unchanged by that.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pglast
from pglast import ast as _ast
from pglast.parser import ParseError, scan

#: PostgreSQL statements that carry others, run later or elsewhere (DO blocks, functions,
#: rules): ``pg.statements_run`` goes into them.
CARRIERS = (_ast.DoStmt, _ast.CreateFunctionStmt, _ast.RuleStmt)


@dataclass(frozen=True)
class PgStatement:
    """One PostgreSQL statement: its text and its pglast AST node (``RawStmt.stmt``)."""

    text: str
    node: Any
    dialect: str = "postgresql"


@dataclass(frozen=True)
class GlotStatement:
    """One statement of another dialect: its text and its sqlglot expression."""

    text: str
    node: Any
    dialect: str = "mysql"


@dataclass(frozen=True)
class Unparsed:
    """A statement the parser rejected: reported, never silently passed."""

    text: str
    error: str
    dialect: str = "postgresql"
    node: Any = None


def parse(sql: str, dialect: str) -> list[PgStatement | GlotStatement | Unparsed]:
    """Split ``sql`` (possibly several statements) into parsed statements."""
    if dialect == "postgresql":
        return _parse_pg(sql)
    return _parse_glot(sql, "mysql" if dialect in {"mysql", "mariadb"} else dialect)


def _parse_pg(sql: str) -> list[PgStatement | GlotStatement | Unparsed]:
    clean = neutralise_pg_placeholders(sql)
    try:
        raw = parse_sql(clean)
    except ParseError as exc:
        return [Unparsed(sql.strip(), str(exc))]
    out: list[PgStatement | GlotStatement | Unparsed] = []
    for item in raw:
        # pglast's locations count characters, so slice the text, not its UTF-8 bytes
        start = item.stmt_location or 0
        end = start + item.stmt_len if item.stmt_len else len(clean)
        out.append(PgStatement(clean[start:end].strip(), item.stmt))
    return out


def parse_sql(sql: str) -> tuple[Any, ...]:
    """pglast's RawStmt nodes for ``sql``."""
    return pglast.parse_sql(sql)


def neutralise_pg_placeholders(sql: str) -> str:
    """``sql`` with pyformat/format placeholders replaced by NULL, found by PostgreSQL's scanner."""
    if "%" not in sql:
        return sql
    try:
        tokens = list(scan(sql))
    except ParseError:
        return sql
    spans: list[tuple[int, int]] = []
    for i, token in enumerate(tokens):
        text = sql[token.start:token.end + 1]
        if not text.endswith("%") or token.name not in {"Op", "ASCII_37"}:
            continue
        percent = token.end
        follow = tokens[i + 1:i + 5]
        # the name inside %(name)s may scan as a keyword (NAME_P, TYPE_P...): any one token will do
        if (len(follow) >= 4 and follow[0].name == "ASCII_40" and follow[2].name == "ASCII_41"
                and sql[follow[3].start:follow[3].end + 1] == "s" and follow[0].start == percent + 1
                and follow[1].start == follow[0].end + 1 and follow[2].start == follow[1].end + 1
                and follow[3].start == follow[2].end + 1):
            spans.append((percent, follow[3].end + 1))
        elif follow and sql[follow[0].start:follow[0].end + 1] == "s" and follow[0].start == percent + 1:
            spans.append((percent, follow[0].end + 1))
    for start, end in reversed(spans):
        sql = sql[:start] + " NULL " + sql[end:]
    return sql


def _parse_glot(sql: str, dialect: str) -> list[PgStatement | GlotStatement | Unparsed]:
    import sqlglot  # only needed for dialects other than PostgreSQL: imported on first use
    from sqlglot.errors import ParseError as GlotParseError

    clean = _neutralise_glot_placeholders(unhide_executable_comments(sql) if dialect == "mysql" else sql, dialect)
    try:
        expressions = sqlglot.parse(clean, read=dialect)
    except (GlotParseError, sqlglot.errors.TokenError) as exc:
        return [Unparsed(sql.strip(), str(exc).splitlines()[0], dialect)]
    out: list[PgStatement | GlotStatement | Unparsed] = []
    for expression in expressions:
        if expression is None:
            continue
        try:
            text = expression.sql(dialect=dialect)
        except Exception:  # sqlglot cannot always write back what it read
            text = sql.strip()
        out.append(GlotStatement(text, expression, dialect))
    return out


def _neutralise_glot_placeholders(sql: str, dialect: str) -> str:
    if "%" not in sql:
        return sql
    import sqlglot
    from sqlglot.tokens import TokenType

    try:
        tokens = sqlglot.Dialect.get_or_raise(dialect).tokenize(sql)
    except sqlglot.errors.TokenError:
        return sql
    spans: list[tuple[int, int]] = []
    for i, token in enumerate(tokens):
        if token.token_type != TokenType.MOD:
            continue
        follow = tokens[i + 1:i + 5]
        if (len(follow) >= 4 and follow[0].token_type == TokenType.L_PAREN
                and follow[2].token_type == TokenType.R_PAREN and follow[3].text == "s"
                and follow[0].start == token.end + 1):
            spans.append((token.start, follow[3].end + 1))
        elif follow and follow[0].text == "s" and follow[0].start == token.end + 1:
            spans.append((token.start, follow[0].end + 1))
    for start, end in reversed(spans):
        sql = sql[:start] + " NULL " + sql[end:]
    return sql


def leading_words(sql: str, dialect: str, count: int) -> list[str]:
    """The first ``count`` tokens of ``sql`` as the dialect's tokenizer reads them, upper case."""
    import sqlglot

    try:
        tokens = sqlglot.Dialect.get_or_raise(dialect).tokenize(sql)
    except sqlglot.errors.TokenError:
        return []
    return [token.text.upper() for token in tokens[:count]]


def unhide_executable_comments(sql: str) -> str:
    """MySQL/MariaDB run the SQL inside ``/*! ... */`` and ``/*M! ... */`` (with an optional version): show it.

    Read character by character, outside string literals and quoted names; the version digits are
    dropped. Any version counts, since the server that runs the migration decides, not the linter.
    """
    out: list[str] = []
    i, quote = 0, ""
    while i < len(sql):
        char = sql[i]
        if quote:
            out.append(char)
            if char == "\\" and quote in "'\"" and i + 1 < len(sql):
                out.append(sql[i + 1])
                i += 2
                continue
            if char == quote:
                quote = ""
            i += 1
            continue
        if char in "'\"`":
            quote = char
            out.append(char)
            i += 1
            continue
        opener = "/*M!" if sql.startswith("/*M!", i) else "/*!" if sql.startswith("/*!", i) else ""
        if opener:
            end = sql.find("*/", i + len(opener))
            if end == -1:
                end = len(sql)
            body = sql[i + len(opener):end]
            digits = 0
            while digits < len(body) and digits < 6 and body[digits].isdigit():
                digits += 1
            out.append(" " + body[digits:] + " ")
            i = end + 2
            continue
        out.append(char)
        i += 1
    return "".join(out)


class _LazyModule:
    """A module imported on first attribute access (sqlglot costs ~45 ms to import)."""

    def __init__(self, name: str):
        self._name = name

    def __getattr__(self, attr: str) -> Any:
        import importlib

        module = importlib.import_module(self._name)
        return getattr(module, attr)


#: ``sqlglot.expressions``, for rules that also handle MySQL/SQLite: ``from ..sql import exp``.
exp: Any = _LazyModule("sqlglot.expressions")
