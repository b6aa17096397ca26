"""The run-time guard of a real run: every statement, every new connection, and what each revision did.

A revision's statements are judged by the destructive rules while its body
runs, whatever path sent them through SQLAlchemy (``op.*``, ``op.execute``,
``op.get_bind()``, another thread, a module that hid its ``upgrade``): the
recorder knows a body is running, so no stack walk decides what is judged.
While a body runs, env.py may open no second connection: everything a
revision does must happen in the transaction the guard watches. On
PostgreSQL, what the revision did is read from the catalog before its
transaction commits (:mod:`safemigrate.guard.enforce.effects`): a raw DBAPI
cursor, a function, a bound parameter cannot hide a drop or an emptied
table. A refusal invalidates the connection, so nothing of the revision can
be committed afterwards, even by a migration or an env.py that catches the
error and carries on. The PostgreSQL checks from the first statement to the
commit (commit gate, other connections, parameters in place, the check at
commit) are :mod:`safemigrate.guard.enforce.pg_run`.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

from alembic.runtime.migration import MigrationContext
from sqlalchemy.engine import Connection

from safemigrate.core.errors import DestructiveChangeBlocked
from safemigrate.core.results import SignOff
from safemigrate.guard import signoff
from safemigrate.guard.enforce import effects, mysql_effects
from safemigrate.guard.enforce.pg_run import PgRun, readable
from safemigrate.guard.enforce.runtime import RuntimeGuard
from safemigrate.guard.model import Severity
from safemigrate.guard.registry import load_rules

_JUDGE = RuntimeGuard.judge  # bound at import: a revision that patches the class or the instance changes nothing


class RunGuard:
    """Judges one run of env.py against a live database (``EnvRunRequest.guard``)."""

    def __init__(self, dialect: str, *, pg_version: int = 15):
        self.dialect = "mysql" if dialect == "mariadb" else dialect
        self.statements = RuntimeGuard(self.dialect, pg_version=pg_version)
        self.blocked: DestructiveChangeBlocked | None = None  # the refusal, kept if env.py swallows it
        self._revision: str | None = None
        self._declared: tuple[SignOff, ...] = ()
        self._path: str | None = None
        self._mark = 0
        self._pg: PgRun | None = PgRun(self._refuse) if self.dialect == "postgresql" else None
        self._mysql: mysql_effects.MysqlRun | None = None  # MySQL/MariaDB: the revision judged on its schema
        self._connection: Connection | None = None  # MySQL/MariaDB: the migration connection and its driver's
        self._driver: Any = None

    # -- the revision's boundaries --------------------------------------------------
    def revision_started(self, script: Any, context: MigrationContext, *, ours: frozenset[int] = frozenset()
                         ) -> None:
        """``ours``: the transactions safemigrate's journal ended since the revision before committed."""
        self._revision = script.revision
        self._declared = signoff.declared(vars(script.module))
        self._path = script.path
        self._mark = signoff.entered_count()
        if self._pg is not None and context.connection is not None:
            self._pg.start(context.connection, script, self._declared, self._mark,
                           str(getattr(context, "version_table", None) or "alembic_version"), ours)
        self._mysql = mysql_effects.MysqlRun(context, revision=script.revision, path=script.path) \
            if self.dialect == "mysql" and context.connection is not None else None
        if self._mysql is not None and context.connection is not None:
            self._connection = context.connection
            self._driver = context.connection.connection.driver_connection

    def body_done(self, script: Any, context: MigrationContext) -> None:
        """Before the revision's transaction commits: refuse what it did that no sign-off covers."""
        if self.blocked is not None and context.connection is not None:
            # a refusal the body caught and carried on from: the transaction must not commit either
            self._refuse(context.connection, self.blocked)
        if self._mysql is not None and context.connection is not None:
            refusal = self._mysql.finish(context, (*self._declared, *signoff.entered_since(self._mark)))
            if refusal is not None:
                self._refuse(context.connection, refusal)
        if self._pg is not None:
            self._pg.body_done()  # on the connection seen when the revision began, whatever context says now

    # -- while the body runs ----------------------------------------------------------
    def statement(self, connection: Connection, statement: str, *, in_transaction: bool, parameters: Any = None,
                  cursor: Any = None, executemany: bool = False) -> None:
        frame = signoff.migration_frame(sys._getframe(2))
        line = frame.f_lineno if frame is not None else None
        texts, signoffs = [statement], (*signoff.active(), *self._declared)
        if self._pg is not None:
            signoffs = readable(signoffs, self._path)
            if not self._pg.owns(connection):
                self.second_connection("the database (a connection other than the migration's)")
            texts = self._pg.statement(connection, cursor, statement, parameters, executemany,
                                       in_transaction=in_transaction)
        try:
            for text in texts:
                _JUDGE(self.statements, text, in_transaction=in_transaction, revision=self._revision or "?",
                       signoffs=signoffs, path=self._path, line=line)
            if self._mysql is not None:  # MySQL commits DDL as it runs: what cannot be judged is refused
                self._mysql.judge(statement, signoffs=(*signoff.active(), *self._declared), line=line,
                                  context=self.statements.contexts.get(self._revision or "?"))
        except DestructiveChangeBlocked as refusal:
            self._refuse(connection, refusal)

    def raw_statement(self, cursor: Any, method: str, query: Any, parameters: Any, send: Callable[[], Any]) -> Any:
        """A driver cursor call while a revision runs (:func:`safemigrate.harness.drivers.watching_raw_cursors`):
        on PostgreSQL, one SQLAlchemy did not send is judged before it runs (``send`` runs it)."""
        if self._pg is not None:
            return self._pg.raw(cursor, method, query, parameters, send, judge=self.statement)
        if self._mysql is None or self._connection is None or getattr(cursor, "connection", None) is not self._driver:
            return send()
        texts = _mysql_texts(cursor, method, query, parameters)
        if texts is None:
            self._refuse(self._connection, DestructiveChangeBlocked(
                f"Revision {self._revision} ({self._path}) sent SQL through a driver cursor's {method}() in "
                "a form safemigrate cannot read before it runs.",
                "MySQL and MariaDB commit DDL as it runs: safemigrate must judge each statement first.",
                "Use op.execute (or op.get_bind().exec_driver_sql) with the SQL as a string.",
                rule="dynamic-sql", revision=self._revision, line=None))
        autocommit = bool(getattr(cursor.connection, "get_autocommit", lambda: False)())
        for text in texts or ():
            self.statement(self._connection, text, in_transaction=not autocommit, cursor=cursor)
        return send()

    def owns(self, connection: Any) -> bool:
        """Whether ``connection`` is the one the running revision was given (always, off PostgreSQL)."""
        return self._pg is None or self._pg.owns(connection)

    def second_connection(self, where: str) -> None:
        """A connection opened while a revision's body runs: its statements would escape the guard."""
        self.blocked = DestructiveChangeBlocked(
            f"Revision {self._revision} ({self._path}) opened a second connection to {where} while it ran.",
            "A revision must do its work on the connection Alembic gives it (op, op.get_bind()): statements on "
            "another connection commit on their own, outside the transaction safemigrate checks and rolls back.",
            "Use op.get_bind() (or op.execute) instead of a new engine or connection.",
            rule="second-connection", revision=self._revision, line=None,
        )
        raise self.blocked

    def _refuse(self, connection: Connection, refusal: DestructiveChangeBlocked) -> None:
        self.blocked = refusal
        try:
            connection.invalidate()  # the server rolls back; nothing can commit on it any more
        except Exception:  # already closed: nothing to commit either
            pass
        raise refusal


def _blocks(effect: effects.Effect) -> bool:
    if effect.rule in effects.EFFECT_ONLY:
        return effects.EFFECT_ONLY[effect.rule]
    rule = load_rules().get(effect.rule)
    return rule is None or rule.severity is Severity.ERROR


def _mysql_texts(cursor: Any, method: str, query: Any, parameters: Any) -> list[str] | None:
    """The statements a pymysql call sends, its parameters in place (pymysql binds them on the client)."""
    if isinstance(query, bytes):
        query = query.decode(errors="replace")
    if method == "callproc" or not isinstance(query, str):
        return None  # CALL p(...): what the procedure runs is not in the text
    sets = list(parameters or ())[:1000] if method == "executemany" else [parameters]
    try:
        return list(dict.fromkeys(cursor.mogrify(query, one) if one else query for one in sets)) or [query]
    except Exception:
        return None
