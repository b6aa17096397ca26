"""MySQL/MariaDB statements judged before they are sent, where the rules alone cannot.

MySQL commits each DDL statement as it runs, so what cannot be judged must not
reach the server: a statement sqlglot does not parse (or keeps as raw text)
that no rule read, dynamic SQL (PREPARE, EXECUTE, CALL: the SQL exists only
when it runs), a trigger on an existing table or an event (code that runs
later, where no guard sees it). And what only the live schema tells: a
MODIFY/CHANGE that narrows the column as it is (the text alone cannot tell a
narrowing from restating the type, which Alembic's ``alter_column`` does on
MySQL), a DROP INDEX of a unique index. Each refusal names its rule id, so an
``allow(...)`` signs it off.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from safemigrate.core.errors import DestructiveChangeBlocked
from safemigrate.core.results import SignOff
from safemigrate.guard.analysis import sql as sqlmod
from safemigrate.guard.analysis.glot import glot_table
from safemigrate.guard.analysis.mysqltypes import narrows
from safemigrate.guard.engine import UNPARSABLE, lint_sql
from safemigrate.guard.model import Context

DYNAMIC_SQL = "dynamic-sql"
TRIGGER_OR_EVENT = "create-trigger-or-event"
#: Commands sqlglot keeps as text that change no schema and no row.
_HARMLESS = {"SHOW", "LOCK", "UNLOCK", "OPTIMIZE", "CHECK", "CHECKSUM", "DEALLOCATE", "DESCRIBE", "DESC",
             "EXPLAIN", "HELP", "ANALYZE", "BEGIN", "COMMIT", "SAVEPOINT", "RELEASE", "XA"}
_DYNAMIC = {"PREPARE", "EXECUTE", "CALL", "HANDLER"}


class SchemaView(Protocol):
    """What the judgement reads of the schema at the revision's start (``mysql_effects.Schema``)."""

    @property
    def columns(self) -> Mapping[tuple[str, str], tuple[str, int]]: ...

    @property
    def indexes(self) -> Mapping[tuple[str, str], bool]: ...


def judge(statement: str, before: SchemaView, *, revision: str, path: str | None,
          signoffs: tuple[SignOff, ...], context: Context | None, line: int | None) -> None:
    """Refuse ``statement`` if it cannot be judged or the schema shows it destroys data."""
    created = set(context.created_tables) if context is not None else set()
    for parsed in sqlmod.parse(statement, "mysql"):
        refusal = _unreadable(parsed, created, signoffs) or _foreseen(parsed, before, created, signoffs)
        if refusal is not None:
            rule, target, what, why = refusal
            where = f" ({path} line {line})" if path and line else f" ({path})" if path else ""
            raise DestructiveChangeBlocked(
                f"Revision {revision}{where} tried to run `{_short(parsed.text)}`: {what}",
                f"{why} safemigrate stopped the statement before it reached the database; the revision's "
                "transaction is rolled back, but on MySQL/MariaDB the DDL statements of this revision that "
                "ran before it stay applied.",
                f"If this is deliberate and you have checked what it does, wrap it in the migration: "
                f"`with allow({rule!r}, {target!r}, reason='...'):`.",
                rule=rule, revision=revision, line=line,
            )

def _unreadable(parsed: Any, created: set[str], signoffs: tuple[SignOff, ...]
                ) -> tuple[str, str, str, str] | None:
    if isinstance(parsed, sqlmod.Unparsed):
        target = " ".join(parsed.text.split())
        if any(s.covers(UNPARSABLE, target) for s in signoffs):
            return None
        return (UNPARSABLE, target, f"safemigrate cannot read this statement ({parsed.error}).",
                "A statement the guard cannot read cannot be judged, and MySQL would commit whatever it "
                "destroys.")
    exp = sqlmod.exp
    if not isinstance(parsed.node, exp.Command):
        return None
    words = list(sqlmod.leading_words(parsed.text, "mysql", 12))
    first = words[0] if words else ""
    if first in _HARMLESS or (first == "REPLACE" and _replaces_listed_rows(parsed.text)):
        return None
    context = Context(dialect="mysql", lock_timeout_set=True, created_tables=set(created))
    if [f for f in lint_sql(parsed.text, context) if f.rule != UNPARSABLE]:
        return None  # a rule read it (and the guard has judged its findings)
    target = " ".join(parsed.text.split())
    if first in _DYNAMIC:
        rule, what, why = (DYNAMIC_SQL, "it runs SQL that exists only when it runs (a prepared statement or "
                           "a stored procedure).", "safemigrate cannot judge SQL it cannot see before it "
                           "reaches the server.")
    elif first == "CREATE" and ("TRIGGER" in words or "EVENT" in words):
        kind = "trigger" if "TRIGGER" in words else "event"
        table = _trigger_table(parsed.text) if kind == "trigger" else ""
        if kind == "trigger" and table and table.rsplit(".", 1)[-1].lower() in created:
            return None  # a trigger on a table of this revision: nothing existing runs it yet
        rule, target = TRIGGER_OR_EVENT, (table or _event_name(words) or target)
        what = (f"it creates a {kind}" + (f" on `{table}`" if table else "") + ": code that runs later, "
                + ("on every write to the table" if kind == "trigger" else "on a schedule") + ", outside the "
                "migration.")
        why = "What a trigger or an event does is never seen by the guard, nor rolled back with the revision."
    else:
        rule, what, why = (UNPARSABLE, "safemigrate's SQL parser does not understand this statement, so no "
                           "rule could check it.",
                           "A statement the guard cannot read cannot be judged, and MySQL would commit "
                           "whatever it destroys.")
    if any(s.covers(rule, target) for s in signoffs):
        return None
    return rule, target, what, why

def _foreseen(parsed: Any, before: SchemaView, created: set[str], signoffs: tuple[SignOff, ...]
              ) -> tuple[str, str, str, str] | None:
    """A change the statement's text does not show as destructive but the schema does."""
    exp = sqlmod.exp
    node = parsed.node
    if isinstance(node, exp.Alter) and (node.args.get("kind") or "").upper() == "TABLE":
        table = glot_table(node.this).rsplit(".", 1)[-1].lower()
        for action in node.args.get("actions") or ():
            if isinstance(action, exp.ModifyColumn) and isinstance(action.this, exp.ColumnDef):
                column = (action.args.get("rename_from") or action.this.this).name.lower()
                kind = action.this.args.get("kind")
                old = before.columns.get((table, column))
                if old is None or kind is None or table in created:
                    continue
                new_type = kind.sql(dialect="mysql").lower()
                target = f"{table}.{column}"
                if narrows(old[0], new_type) and not any(s.covers("narrow-column-type", target)
                                                         for s in signoffs):
                    return ("narrow-column-type", target, f"it changes column `{target}` from {old[0]} to "
                            f"{new_type}, which narrows it.", "Values that no longer fit are cut, rounded "
                            "or zeroed (with a permissive sql_mode) or make the statement fail half-way, and "
                            "running code that writes wider values breaks.")
            elif isinstance(action, exp.Drop) and (action.args.get("kind") or "").upper() == "INDEX":
                for index in action.args.get("tables") or ():
                    refusal = _unique_index(before, table, index.name, signoffs)
                    if refusal is not None:
                        return refusal
    elif isinstance(node, exp.Drop) and (node.args.get("kind") or "").upper() == "INDEX":
        on = node.args.get("cluster")
        table = glot_table(on.this).rsplit(".", 1)[-1].lower() if isinstance(on, exp.OnProperty) else ""
        for index in node.args.get("tables") or ():
            refusal = _unique_index(before, table, index.name, signoffs)
            if refusal is not None:
                return refusal
    return None

def _unique_index(before: SchemaView, table: str, index: str, signoffs: tuple[SignOff, ...]
                  ) -> tuple[str, str, str, str] | None:
    target = f"{table}.{index.lower()}"
    if not before.indexes.get((table, index.lower())) or any(s.covers("drop-constraint", target)
                                                                  for s in signoffs):
        return None
    return ("drop-constraint", target, f"it drops `{index}`, a unique index of `{table}`.",
            "Without it the database no longer refuses duplicates: they can be written from then on.")


def _replaces_listed_rows(sql: str) -> bool:
    """Whether ``REPLACE ... VALUES (...)``: it replaces only the rows it lists, like an upsert of them.

    Read as the INSERT it is spelled like (sqlglot keeps REPLACE as text); ``REPLACE ... SELECT`` can
    replace every row of a table and stays refused.
    """
    import sqlglot

    try:
        first = sqlglot.Dialect.get_or_raise("mysql").tokenize(sql)[0]
        node = sqlglot.parse_one("INSERT" + sql[first.end + 1:], read="mysql")
    except (sqlglot.errors.ParseError, sqlglot.errors.TokenError, IndexError):
        return False
    return isinstance(node, sqlmod.exp.Insert) and isinstance(node.expression, sqlmod.exp.Values)


def _trigger_table(sql: str) -> str:
    """The table a CREATE TRIGGER is on: the name after its first ON."""
    import sqlglot
    from sqlglot.tokens import TokenType

    try:
        tokens = sqlglot.Dialect.get_or_raise("mysql").tokenize(sql)
    except sqlglot.errors.TokenError:
        return ""
    for i, token in enumerate(tokens):
        if token.token_type == TokenType.ON:
            name = ""
            for follow in tokens[i + 1:]:
                if follow.token_type in {TokenType.VAR, TokenType.IDENTIFIER, TokenType.DOT} or (
                        name.endswith(".") and follow.text):
                    name += follow.text
                else:
                    break
            return name
    return ""


def _event_name(words: list[str]) -> str:
    return words[words.index("EVENT") + 1].lower() if "EVENT" in words[:-1] else ""


def _short(sql: str, limit: int = 200) -> str:
    collapsed = " ".join(sql.split())
    return collapsed if len(collapsed) <= limit else collapsed[:limit] + "..."
