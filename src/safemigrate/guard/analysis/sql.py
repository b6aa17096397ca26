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


#: what a rule's check receives: a statement the parser read (an :class:`Unparsed` one never reaches a rule)
ParsedStatement = PgStatement | GlotStatement


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

    if dialect == "mysql":
        sql_read = mariadb_spellings(unhide_executable_comments(sql))
    else:
        sql_read = sql
    clean = _neutralise_glot_placeholders(sql_read, dialect)
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


#: MariaDB/MySQL words that change no statement's effect but that sqlglot does not read: lock waits
#: (``WAIT n``, ``NOWAIT``) and DELETE's modifiers; ``TABLES`` is a synonym of ``TABLE`` after DROP.
_DELETE_MODIFIERS = {"LOW_PRIORITY", "QUICK", "IGNORE"}


def mariadb_spellings(sql: str) -> str:
    """``sql`` with MariaDB spellings the parser does not know rewritten to ones it does, by their tokens.

    ``DROP TABLES a`` becomes ``DROP TABLE a`` (``RENAME`` is read by its rule); ``WAIT n`` and ``NOWAIT``
    (how long to wait for a lock), ``DELETE LOW_PRIORITY QUICK IGNORE`` and ``CREATE FULLTEXT|SPATIAL INDEX``
    lose the words that only change how the statement waits, reports or indexes, never what it destroys.
    Quoted names are tokens of their own, so a table called `wait` is kept.
    """
    import sqlglot
    from sqlglot.tokens import TokenType

    try:
        tokens = sqlglot.Dialect.get_or_raise("mysql").tokenize(sql)
    except sqlglot.errors.TokenError:
        return sql
    edits: list[tuple[int, int, str]] = []
    first: str | None = None
    for i, token in enumerate(tokens):
        if token.token_type == TokenType.SEMICOLON:
            first = None
            continue
        word = token.text.upper() if token.token_type != TokenType.IDENTIFIER else ""
        previous = tokens[i - 1].text.upper() if i and first is not None else ""
        if first is None:
            first = word
        elif word == "TABLES" and first == "DROP" and previous in {"DROP", "TEMPORARY"}:
            edits.append((token.start, token.end + 1, "TABLE"))
        elif word == "NOWAIT" and first in {"DROP", "ALTER", "RENAME", "TRUNCATE", "LOCK", "CREATE", "OPTIMIZE"}:
            edits.append((token.start, token.end + 1, " "))
        elif (word == "WAIT" and i + 1 < len(tokens) and tokens[i + 1].token_type == TokenType.NUMBER
              and first in {"DROP", "ALTER", "RENAME", "TRUNCATE", "LOCK", "CREATE", "OPTIMIZE"}):
            edits.append((token.start, tokens[i + 1].end + 1, " "))
        elif word in {"FULLTEXT", "SPATIAL"} and first == "CREATE" and previous == "CREATE" and (
                i + 1 < len(tokens) and tokens[i + 1].text.upper() == "INDEX"):
            edits.append((token.start, token.end + 1, " "))  # the kind of index: built the same way
        elif first == "DELETE" and word in _DELETE_MODIFIERS and all(
                t.text.upper() in _DELETE_MODIFIERS | {"DELETE"} for t in tokens[_start_of(tokens, i):i]):
            edits.append((token.start, token.end + 1, " "))
    for start, end, text in reversed(edits):
        sql = sql[:start] + text + sql[end:]
    return sql


def _start_of(tokens: list[Any], index: int) -> int:
    from sqlglot.tokens import TokenType

    while index > 0 and tokens[index - 1].token_type != TokenType.SEMICOLON:
        index -= 1
    return index


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

    Read character by character the way the server's lexer does: string literals and quoted names are
    copied whole, ordinary comments (``/* */``, ``#`` and ``-- `` to the end of the line) are replaced by a
    space, so a quote inside a comment opens no string. The version digits are dropped; any version counts,
    since the server that runs the migration decides, not the linter.
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
        comment_end = _ordinary_comment_end(sql, i)
        if comment_end is not None:
            out.append(" ")
            i = comment_end
            continue
        out.append(char)
        i += 1
    return "".join(out)


def _ordinary_comment_end(sql: str, i: int) -> int | None:
    """Where the ordinary comment starting at ``i`` ends (MySQL's rules), or None if none starts there."""
    if sql.startswith("/*", i):
        end = sql.find("*/", i + 2)
        return len(sql) if end == -1 else end + 2
    # `--` opens a comment only when followed by white space or a control character (else it is two minuses)
    if sql[i] == "#" or (sql.startswith("--", i) and (i + 2 == len(sql) or sql[i + 2] <= " ")):
        end = sql.find("\n", i)
        return len(sql) if end == -1 else end + 1
    return None


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
