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
error and carries on.
"""

from __future__ import annotations

import sys
from typing import Any

from alembic.runtime.migration import MigrationContext
from sqlalchemy.engine import Connection

from safemigrate.core.errors import DestructiveChangeBlocked
from safemigrate.core.results import SignOff
from safemigrate.guard import signoff
from safemigrate.guard.enforce import effects
from safemigrate.guard.enforce.runtime import RuntimeGuard
from safemigrate.guard.model import Severity
from safemigrate.guard.registry import load_rules


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
        self._before: effects.Catalog | None = None

    # -- the revision's boundaries --------------------------------------------------
    def revision_started(self, script: Any, context: MigrationContext) -> None:
        self._revision = script.revision
        self._declared = signoff.declared(vars(script.module))
        self._path = script.path
        self._mark = signoff.entered_count()
        self._before = None
        if self.dialect == "postgresql" and context.connection is not None:
            self._before = effects.snapshot(context.connection)

    def body_done(self, script: Any, context: MigrationContext) -> None:
        """Before the revision's transaction commits: refuse what it did that no sign-off covers."""
        if self._before is None or context.connection is None:
            return
        after = effects.snapshot(context.connection)
        allowed = (*self._declared, *signoff.entered_since(self._mark))
        done = [e for e in effects.effects(self._before, after) if _blocks(e)
                and not any(s.covers(e.rule, e.target) for s in allowed)]
        if done:
            first = done[0]
            self._refuse(context.connection, DestructiveChangeBlocked(
                f"Revision {script.revision} ({script.path}) {'; '.join(e.description for e in done)}.",
                "safemigrate read what the revision did from the database's catalog before its transaction "
                "committed, whatever path sent the SQL, and rolled the revision back: nothing of it stayed.",
                "If this change is deliberate, sign it off in the migration: "
                f"`with allow({first.rule!r}, {first.target!r}, reason='...'):` around it, or "
                f"`safemigrate_allow = [allow({first.rule!r}, {first.target!r}, reason='...')]` at module level.",
                rule=first.rule, revision=script.revision, line=None,
            ))

    # -- while the body runs ----------------------------------------------------------
    def statement(self, connection: Connection, statement: str, *, in_transaction: bool) -> None:
        frame = signoff.migration_frame(sys._getframe(2))
        line = frame.f_lineno if frame is not None else None
        try:
            self.statements.judge(statement, in_transaction=in_transaction, revision=self._revision or "?",
                                  signoffs=(*signoff.active(), *self._declared), path=self._path, line=line)
        except DestructiveChangeBlocked as refusal:
            self._refuse(connection, refusal)

    def second_connection(self, where: str) -> None:
        """A connection opened while a revision's body runs: its statements would escape the guard."""
        raise DestructiveChangeBlocked(
            f"Revision {self._revision} ({self._path}) opened a second connection to {where} while it ran.",
            "A revision must do its work on the connection Alembic gives it (op, op.get_bind()): statements on "
            "another connection commit on their own, outside the transaction safemigrate checks and rolls back.",
            "Use op.get_bind() (or op.execute) instead of a new engine or connection.",
            rule="second-connection", revision=self._revision, line=None,
        )

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
