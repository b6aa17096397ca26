"""The run-time guard: refuse an unapproved destructive statement before it is sent.

safemigrate's env.py helper listens to ``before_cursor_execute`` on the
migration connection. Every statement sent from inside a revision module
(``op.*``, ``op.execute`` with raw SQL, ``op.get_bind().execute``,
multi-statement strings) is parsed and checked with the destructive rules.
A finding that no ``allow(...)`` covers raises :class:`DestructiveChangeBlocked`:
the statement never reaches the database, and the revision's transaction
rolls back.
"""

from __future__ import annotations

import sys
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Connection

from safemigrate.core.errors import DestructiveChangeBlocked
from safemigrate.core.results import SignOff
from safemigrate.guard import signoff
from safemigrate.guard.engine import lint_sql
from safemigrate.guard.model import Category, Context, Severity

RECORD_ONLY = "safemigrate.guard.record_only"  # Config.attributes key: report, never block
AUTOGEN_DRIVEN = "safemigrate.guard.autogen_driven"  # safemigrate applies its own autogenerate hook


class RuntimeGuard:
    """Per-connection guard; one :class:`Context` per revision."""

    def __init__(self, dialect: str, *, pg_version: int = 15):
        self.dialect = dialect
        self.pg_version = pg_version
        self.contexts: dict[str, Context] = {}

    def install(self, connection: Connection) -> None:
        event.listen(connection, "before_cursor_execute", self.before_execute)

    def remove(self, connection: Connection) -> None:
        if event.contains(connection, "before_cursor_execute", self.before_execute):
            event.remove(connection, "before_cursor_execute", self.before_execute)

    def before_execute(self, conn: Any, cursor: Any, statement: str, parameters: Any, context: Any,
                       executemany: bool) -> None:
        autocommit = conn.get_execution_options().get("isolation_level") == "AUTOCOMMIT"
        self._check(statement, self.dialect, in_transaction=not autocommit)

    def on_operation(self, operation: Any, sql: str) -> None:
        """A destructive batch operation (a SQLite table rebuild hides it from the SQL)."""
        self._check(sql, "postgresql", in_transaction=True)

    def _check(self, statement: str, dialect: str, *, in_transaction: bool) -> None:
        frame = signoff.migration_frame(sys._getframe(2))
        if frame is None:
            return  # env.py's own statements and Alembic's version bookkeeping
        module = frame.f_globals
        self.judge(statement, dialect=dialect, in_transaction=in_transaction, revision=str(module.get("revision")),
                   signoffs=(*signoff.active(), *signoff.declared(module)), path=frame.f_code.co_filename,
                   line=frame.f_lineno)

    def judge(self, statement: str, *, dialect: str | None = None, in_transaction: bool, revision: str,
              signoffs: tuple[SignOff, ...], path: str | None, line: int | None) -> None:
        """Raise DestructiveChangeBlocked when ``statement`` destroys data and no sign-off allows it."""
        dialect = dialect or self.dialect
        ctx = self.contexts.setdefault(revision, Context(dialect=self.dialect, pg_version=self.pg_version,
                                                         revision=revision, lock_timeout_set=True))
        ctx.in_transaction = in_transaction
        if dialect != ctx.dialect:
            ctx = Context(dialect=dialect, pg_version=self.pg_version, revision=revision, lock_timeout_set=True,
                          created_tables=set(ctx.created_tables))
        for finding in lint_sql(statement, ctx, categories={Category.DESTRUCTIVE}):
            if finding.severity is not Severity.ERROR:
                continue
            if any(s.covers(finding.rule, finding.target) for s in signoffs):
                continue
            where = f" ({path} line {line})" if path and line else f" ({path})" if path else ""
            raise DestructiveChangeBlocked(
                f"Revision {revision}{where} tried to run `{_short(finding.statement)}`: {finding.message}",
                "safemigrate stopped the statement before it reached the database; the revision's "
                "transaction is rolled back (on MySQL/MariaDB, statements of this revision that ran before it "
                "stay applied).",
                f"{finding.help} If this change is deliberate, wrap it in the migration: "
                f"`with allow({finding.rule!r}, {finding.target!r}, reason='...'):`.",
                rule=finding.rule, revision=revision, line=line,
            )


def _short(sql: str, limit: int = 200) -> str:
    text = " ".join(sql.split())
    return text if len(text) <= limit else text[:limit] + "..."


def raw_text(cursor: Any, method: str, query: Any) -> str | None:
    """The SQL a driver cursor call sends, when it can be read: a string, bytes, or a composed ``psycopg.sql``
    object (a procedure call, a COPY's data or a stream are not statements of their own)."""
    if method not in {"execute", "executemany"}:
        return None
    if isinstance(query, bytes):
        return query.decode(errors="replace")
    if isinstance(query, str):
        return query
    as_string = getattr(query, "as_string", None)
    if callable(as_string):
        try:
            text = as_string(cursor)
        except Exception:
            return None
        return text if isinstance(text, str) else None
    return None
