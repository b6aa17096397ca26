"""SQLite batch mode, folded for a reviewer: the reflection reads and the table-copy steps in one line each.

Why: on SQLite, Alembic's batch mode changes a table by reading its definition (a dozen ``PRAGMA
table_xinfo``, ``index_list``, ``foreign_key_list`` and ``SELECT sql FROM sqlite_master`` queries), creating
``_alembic_tmp_<table>`` with the new definition, copying the rows, dropping the table and renaming the copy.
``review`` showed all of it, and the one statement that says what the revision changes (the new ``CREATE
TABLE``) was lost among twenty. Folded, a revision reads as: which table's definition was read, the new
definition, then "rows copied, old table dropped, copy renamed".

Only what is certainly batch mode's own is folded: read-only PRAGMAs of the catalog and catalog SELECTs
(never ``PRAGMA foreign_keys = OFF`` or any other setting), and the copy steps only as the exact
INSERT ... SELECT / DROP / RENAME sequence around an ``_alembic_tmp_`` table. Everything else is shown as
sent. Lint and the guard always see every statement: folding is for ``review``'s report only.
"""

from __future__ import annotations

import dataclasses
import re

from safemigrate.core.results import RevisionRun, Statement

TMP_PREFIX = "_alembic_tmp_"

_READ_PRAGMAS = ("table_info", "table_xinfo", "index_list", "index_info", "index_xinfo", "foreign_key_list")
_PRAGMA = re.compile(r'^\s*PRAGMA\s+(?:"?(?:main|temp)"?\.)?(' + "|".join(_READ_PRAGMAS)
                     + r')\s*\(\s*["\'`]?([^"\'`)]*)["\'`]?\s*\)\s*;?\s*$', re.IGNORECASE)
_CATALOG_SELECT = re.compile(r"^\s*SELECT\b(?!.*\bINTO\b).*\bFROM\b.*\bsqlite_(?:temp_)?master\b",
                             re.IGNORECASE | re.DOTALL)
_CREATE_TMP = re.compile(r'^\s*CREATE\s+TABLE\s+["`]?' + TMP_PREFIX + r'([^\s"`(]+)', re.IGNORECASE)


def fold_batch_mode(run: RevisionRun) -> RevisionRun:
    """``run`` with batch mode's reflection reads and table-copy steps folded into comments."""
    statements = _fold_copies(_fold_reads(run.statements))
    return run if statements == run.statements else dataclasses.replace(run, statements=statements)


def _reflection(statement: Statement) -> str | None:
    """The table a catalog read is about ('' when it does not say), or None when it is not one."""
    if statement.bookkeeping or statement.operation:
        return None
    pragma = _PRAGMA.match(statement.sql)
    if pragma:
        return pragma.group(2)
    if _CATALOG_SELECT.match(statement.sql):
        quoted = re.findall(r"'([^']*)'", statement.parameters or "")
        return quoted[0] if quoted else ""
    return None


def _fold_reads(statements: list[Statement]) -> list[Statement]:
    out: list[Statement] = []
    group: list[tuple[Statement, str]] = []

    def flush() -> None:
        if len(group) == 1:
            out.append(group[0][0])
        elif group:
            tables = sorted({t for _, t in group if t and not t.startswith("sqlite_autoindex")})
            what = f"the definition of {', '.join(tables)}" if tables else "the catalog"
            out.append(_comment(group[0][0], f"-- batch mode read {what}: {len(group)} catalog queries "
                                             "(PRAGMA table_info, index_list, foreign_key_list...; sqlite_master) "
                                             "folded"))
        group.clear()

    for statement in statements:
        table = _reflection(statement)
        if table is None:
            flush()
            out.append(statement)
        else:
            group.append((statement, table))
    flush()
    return out


def _fold_copies(statements: list[Statement]) -> list[Statement]:
    out: list[Statement] = []
    index = 0
    while index < len(statements):
        statement = statements[index]
        out.append(statement)
        created = _CREATE_TMP.match(statement.sql) if not statement.operation else None
        index += 1
        if created is None:
            continue
        table = created.group(1)
        steps = statements[index:index + 3]
        if len(steps) == 3 and _is_copy(steps, table):
            out.append(_comment(steps[0], f"-- batch mode: rows of {table} copied into {TMP_PREFIX}{table}, "
                                          f"{table} dropped, {TMP_PREFIX}{table} renamed to {table}"))
            index += 3
    return out


def _is_copy(steps: list[Statement], table: str) -> bool:
    insert, drop, rename = (s.sql for s in steps)
    tmp = re.escape(TMP_PREFIX + table)
    name = re.escape(table)
    return (bool(re.match(rf'^\s*INSERT\s+INTO\s+["`]?{tmp}["`]?.*\bSELECT\b.*\bFROM\s+["`]?{name}["`]?\s*;?\s*$',
                          insert, re.IGNORECASE | re.DOTALL))
            and bool(re.match(rf'^\s*DROP\s+TABLE\s+["`]?{name}["`]?\s*;?\s*$', drop, re.IGNORECASE))
            and bool(re.match(rf'^\s*ALTER\s+TABLE\s+["`]?{tmp}["`]?\s+RENAME\s+TO\s+["`]?{name}["`]?\s*;?\s*$',
                              rename, re.IGNORECASE))
            and not any(s.operation or s.bookkeeping for s in steps))


def _comment(first: Statement, text: str) -> Statement:
    return Statement(text, line=first.line, in_transaction=first.in_transaction)
