"""The statement journal of a real run: each attempt, and each step that commits on its own, as it happens.

A revision's transaction makes it all-or-nothing on PostgreSQL, except what
runs in an ``autocommit_block`` (CREATE INDEX CONCURRENTLY, a data step),
which first commits the revision's statements so far; on MySQL/MariaDB
every DDL statement commits, and the statements before it with it. If the
migrator is killed half-way, those steps stay done, and a rerun would do
them again (an ``UPDATE ... + 100`` twice). So the attempt is recorded when
it starts, and each such step before it is sent (running) and when it
completes (done) or fails (failed), on a connection of the journal's own
that commits at once (:mod:`safemigrate.state.ledger`). A later run refuses to run the revision
again while that attempt is open (see the preflight and the runner).
"""

from __future__ import annotations

import secrets
from typing import Any

from sqlalchemy import create_engine, pool
from sqlalchemy.engine import URL, Connection, Engine

from safemigrate.core.urls import backend_of, sync_url
from safemigrate.guard.analysis.sql import leading_words, unhide_executable_comments
from safemigrate.state import ledger


class Journal:
    """One run's journal connection (autocommit), opened before env.py runs and closed after."""

    def __init__(self, url: URL):
        self.attempt = secrets.token_hex(8)
        self.every_statement_commits = backend_of(url) == "mysql"  # DDL commits what came before it
        self._engine: Engine = create_engine(sync_url(url), poolclass=pool.NullPool, isolation_level="AUTOCOMMIT")
        self._connection: Connection | None = None
        self._revision: str | None = None
        self._steps = 0
        self._pending: list[str] = []
        self._sent: list[int] = []  # steps recorded for the statement being sent

    def open(self) -> None:
        self._connection = self._engine.connect()
        with self._connection.begin():
            ledger.ensure(self._connection)

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None
        self._engine.dispose()

    @property
    def connection(self) -> Connection | None:
        return self._connection

    def revision_started(self, script: Any) -> frozenset[int]:
        """An attempt per revision: a run that applies several closes each one with that revision's ledger row.

        Returns the id of the transaction that recorded it (PostgreSQL): the guard's catalog reading as the
        revision starts knows it for safemigrate's own, not something else that ran between two revisions.
        """
        assert self._connection is not None
        self.attempt = secrets.token_hex(8)
        self._revision, self._steps, self._pending = script.revision, 0, []
        with self._connection.begin():
            written = ledger.start(self._connection, script.revision, attempt=self.attempt)
        return frozenset() if written is None else frozenset({written})

    def sending(self, statement: str, *, in_transaction: bool) -> None:
        """A statement of the running revision is about to be sent; record it first if it commits on its own."""
        self._sent = []
        if self._connection is None or self._revision is None:
            return
        if in_transaction and not (self.every_statement_commits and _commits_implicitly(statement)):
            # part of the revision's transaction: it commits with the revision, or is rolled back with it,
            # unless a statement that commits on its own comes first (autocommit_block commits the
            # transaction so far; on MySQL so does any DDL)
            self._pending.append(statement)
            return
        steps, self._pending = [*self._pending, statement], []
        with self._connection.begin():
            for text in steps:
                self._steps += 1
                ledger.step(self._connection, self._revision, self.attempt, self._steps, text)
                self._sent.append(self._steps)

    def sent(self) -> None:
        """The statement completed: what was recorded before it is done."""
        if self._sent and self._connection is not None:
            with self._connection.begin():
                ledger.step_done(self._connection, self.attempt, self._sent)
        self._sent = []

    def failed(self) -> None:
        """The statement failed: on PostgreSQL it did not commit; MySQL's implicit commit may have come first."""
        if self._sent and self._connection is not None:
            with self._connection.begin():
                ledger.step_failed(self._connection, self.attempt, self._sent[-1])
        self._sent = []


#: MySQL/MariaDB statements that commit the open transaction (and themselves) at once.
_IMPLICIT_COMMIT = {"CREATE", "ALTER", "DROP", "RENAME", "TRUNCATE", "GRANT", "REVOKE", "LOCK", "UNLOCK",
                    "ANALYZE", "OPTIMIZE", "REPAIR", "INSTALL", "UNINSTALL", "COMMIT", "BEGIN", "START", "SET",
                    "LOAD"}


def _commits_implicitly(statement: str) -> bool:
    words = leading_words(unhide_executable_comments(statement), "mysql", 2)
    if not words:
        return True  # unreadable: assume the worst, it is recorded
    if words[0] == "SET":
        return words[1:2] in (["PASSWORD"], ["AUTOCOMMIT"])
    if words[0] == "CREATE" or words[0] == "DROP":
        return words[1:2] != ["TEMPORARY"]
    return words[0] in _IMPLICIT_COMMIT
