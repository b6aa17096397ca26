"""The run-time guard's PostgreSQL checks, from a revision's first statement to its commit.

* Every statement is judged on the migration connection only: a statement on
  any other connection during a revision is refused (it would commit on its
  own, outside the transaction the guard checks).
* Statements are judged with their parameters in place, as the server will
  run them (``WHERE %(always)s`` bound to ``True`` is ``WHERE true``).
* A revision may not end its transaction itself (COMMIT, ROLLBACK, PREPARE
  TRANSACTION) nor switch roles (SET ROLE, SET SESSION AUTHORIZATION).
* The transaction carries a :class:`~safemigrate.guard.enforce.commit_gate.CommitGate`:
  a commit sent past SQLAlchemy (the driver, libpq, a multi-statement string)
  fails and rolls everything back. The gate is disarmed after the last check,
  which runs in the dialect's ``do_commit`` right before the driver commits
  (after every SQLAlchemy ``commit`` listener, the revision's own included):
  deferred triggers are fired first (``SET CONSTRAINTS ALL IMMEDIATE``), then
  the catalog and the rows written are compared with what was checked when
  the body ended, so a listener on the version bump or on the commit, an
  ``on_version_apply`` callback, a trigger or a rule that acts after the body
  is still refused.
* The listeners and functions used are bound when the run starts, so a
  revision that patches safemigrate's classes or modules changes nothing of a
  run already under way. Code of the revision can still reach the guard's
  objects (``gc``) and the driver; what it does there is caught by the catalog
  check at commit, short of disarming that too: in-process code acting
  deliberately against safemigrate cannot be fully prevented from inside the
  same process.
"""

from __future__ import annotations

import ast as python_ast
import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pglast import ast
from pglast.enums import TransactionStmtKind, VariableSetKind
from sqlalchemy import event
from sqlalchemy.engine import Connection

from safemigrate.core.errors import DestructiveChangeBlocked
from safemigrate.core.results import SignOff
from safemigrate.guard import signoff
from safemigrate.guard.analysis.pg import executed_nodes, relation, statements_run
from safemigrate.guard.analysis.sql import PgStatement, parse
from safemigrate.guard.enforce import effects as _effects_module
from safemigrate.guard.enforce.commit_gate import CommitGate
from safemigrate.guard.enforce.pg_snapshot import pinned
from safemigrate.guard.enforce.runtime import raw_text
from safemigrate.guard.model import Context, Severity
from safemigrate.guard.registry import load_rules

# bound now: a revision that replaces these module attributes later changes nothing of a run
_snapshot = _effects_module.snapshot
_effects = _effects_module.effects
_after_body = _effects_module.after_body
_EFFECT_ONLY = dict(_effects_module.EFFECT_ONLY)
_Unreadable = _effects_module.CatalogUnreadable
_ENDS_TRANSACTION = {TransactionStmtKind.TRANS_STMT_COMMIT, TransactionStmtKind.TRANS_STMT_ROLLBACK,
                     TransactionStmtKind.TRANS_STMT_PREPARE, TransactionStmtKind.TRANS_STMT_COMMIT_PREPARED,
                     TransactionStmtKind.TRANS_STMT_ROLLBACK_PREPARED, TransactionStmtKind.TRANS_STMT_BEGIN,
                     TransactionStmtKind.TRANS_STMT_START}
_MAX_PARAMETER_SETS = 1000

Refuse = Callable[[Connection, DestructiveChangeBlocked], None]


@dataclass
class _Revision:
    revision: str
    path: str | None
    declared: tuple[SignOff, ...]
    mark: int  # signoff.entered_count() when it began
    before: _effects_module.Catalog
    version_table: str
    checked: _effects_module.Catalog | None = None  # what body_done found and accepted
    in_body: bool = True
    updated: set[str] = field(default_factory=set)  # tables a statement the guard saw updates (lower-case labels)

    def allowed(self) -> tuple[SignOff, ...]:
        return readable((*self.declared, *signoff.entered_since(self.mark)), self.path)


def readable(signoffs: tuple[SignOff, ...], path: str | None) -> tuple[SignOff, ...]:
    """The sign-offs a reviewer can read in the revision file: ``allow("rule", "target", ...)`` with both names
    written out. One assembled at run time (``getattr(safemigrate, "al" + "low")("drop-" + "table", ...)``)
    was never seen by the preflight nor by a reviewer, and allows nothing."""
    if path is None:
        return signoffs
    written = _written_signoffs(path)
    return tuple(s for s in signoffs if (s.rule, s.target) in written)


@functools.lru_cache(maxsize=256)
def _written_signoffs(path: str) -> frozenset[tuple[str, str]]:
    try:
        tree = python_ast.parse(Path(path).read_text())
    except (OSError, SyntaxError, ValueError):
        return frozenset()
    found = set()
    for node in python_ast.walk(tree):
        if not isinstance(node, python_ast.Call):
            continue
        name = node.func.id if isinstance(node.func, python_ast.Name) else \
            node.func.attr if isinstance(node.func, python_ast.Attribute) else None
        given = dict(zip(("rule", "target"), node.args[:2], strict=False))
        given |= {k.arg: k.value for k in node.keywords if k.arg}
        rule, target = given.get("rule"), given.get("target")
        if name == "allow" and isinstance(rule, python_ast.Constant) and isinstance(target, python_ast.Constant):
            found.add((str(rule.value), str(target.value)))
    return frozenset(found)


def _trusting(method: Callable[..., Any]) -> Callable[..., Any]:
    """safemigrate's own statements during ``method`` (driver cursors on the migration connection) are not
    judged as a revision's raw statements."""
    @functools.wraps(method)
    def trusted(self: PgRun, *args: Any, **kwargs: Any) -> Any:
        self._trusted += 1
        try:
            return method(self, *args, **kwargs)
        finally:
            self._trusted -= 1

    return trusted


class PgRun:
    """One env.py run's PostgreSQL checks. ``refuse`` invalidates the connection and raises."""

    def __init__(self, refuse: Refuse):
        self._refuse = refuse
        self._gate = CommitGate()
        self._connection: Connection | None = None
        self._dbapi: Any = None
        self._current: _Revision | None = None
        self._gate_transaction: int | None = None
        self._listening: list[Connection] = []
        self._hooked: list[tuple[Any, Any]] = []  # (dialect, its do_commit) judged through _hook_commit
        self._stepping: list[Connection] = []
        self._step: _effects_module.Catalog | None = None  # a statement of an autocommit block, under way
        self._driver: Any = None  # the driver's connection under the migration connection
        self._trusted = 0  # > 0 while safemigrate's own code sends SQL (catalog reads, BEGIN/COMMIT of a step)
        #: the last reading of the revision whose commit was just let through: the next one starts from it
        #: when nothing else ended in between (pg_snapshot.read)
        self._committed: _effects_module.Catalog | None = None

    # -- boundaries ----------------------------------------------------------------------------------
    @_trusting
    def start(self, connection: Connection, script: Any, declared: tuple[SignOff, ...], mark: int,
              version_table: str, ours: frozenset[int] = frozenset()) -> None:
        """``ours``: the transactions safemigrate's journal ended since the last revision committed."""
        previous = self._current
        if previous is not None and previous.checked is not None and self._transactional(connection):
            self._judge_after_body(connection, previous)  # revisions sharing one transaction
        self._listen(connection)
        self._connection, self._dbapi = connection, connection.connection.dbapi_connection
        self._driver = connection.connection.driver_connection
        committed, self._committed = self._committed, None
        before = self._read(connection, script.revision, script.path, previous=committed, ours=ours)
        self._current = _Revision(script.revision, script.path, declared, mark, before, version_table)
        if committed is not None and before.transaction is not None and before.reused != "all":
            # Alembic writes nothing between one revision's commit and the next one's body; a listener or a
            # thread of an earlier revision did, and on a busy server what it did cannot be told apart
            self._refuse(connection, DestructiveChangeBlocked(
                f"Revision {script.revision} ({script.path}) had its transaction written to before it began: "
                "something ran SQL on the migration connection after the revision before it committed (a "
                "listener, a callback or a thread that revision left behind).",
                "What ran there is part of this revision's transaction, but not of anything safemigrate "
                "checked, so the revision was rolled back.",
                "Find the event listener, callback or thread an earlier revision registers and remove it; "
                "revisions act only inside upgrade().",
                rule="write-after-body", revision=script.revision, line=None))
        self._ensure_gate(connection)

    def owns(self, connection: Any) -> bool:
        """Whether ``connection`` (a SQLAlchemy Connection) is the migration connection."""
        if self._dbapi is None or self._current is None:
            return True
        try:
            return connection.connection.dbapi_connection is self._dbapi
        except Exception:  # closed or invalidated: not ours to use any more
            return False

    @_trusting
    def body_done(self) -> None:
        run, connection = self._current, self._connection
        if run is None or connection is None:
            return
        self._check_gate(connection, run)
        after = self._read(connection, run.revision, run.path, since=run.before)
        found = [*_effects(run.before, after), *_effects_module.unseen_rewrites(run.before, after, run.updated)]
        self._judge(connection, run, found, run.allowed(), after_body=False)
        run.checked, run.in_body = after, False
        self._ensure_gate(connection)

    # -- statements ----------------------------------------------------------------------------------
    @_trusting
    def statement(self, connection: Connection, cursor: Any, statement: str, parameters: Any,
                  executemany: bool, *, in_transaction: bool) -> list[str]:
        """Refuse what no statement of a revision may do; returns the statement(s) to judge by the rules."""
        run = self._current
        if run is None:
            return [statement]
        parsed = [p for p in parse(statement, "postgresql") if isinstance(p, PgStatement)]
        run.updated |= _updated_tables(parsed)
        if in_transaction:
            for one in parsed:
                self._refuse_control(connection, run, one)
            self._ensure_gate(connection)
        elif parsed and self._step is None and self.owns(connection) \
                and not any(_outside_transactions(p.node) for p in parsed):
            self._open_step(connection, run)
        return _rendered(cursor, statement, parameters, executemany)

    # -- a statement sent through a driver cursor ---------------------------------------------------------
    def raw(self, cursor: Any, method: str, query: Any, parameters: Any, send: Callable[[], Any],
            judge: Callable[..., None]) -> Any:
        """A psycopg cursor call while a revision runs, other than SQLAlchemy's own statements (let through by
        harness/drivers.py). safemigrate's pass; any other is judged by the rules like ``op.execute`` before
        ``send`` runs it (a ``dblink_exec`` or a multi-statement COMMIT is refused before it reaches the server).
        In the revision's transaction the check at commit also sees what it did; in an autocommit block, where
        it would commit as it runs, it runs in a transaction of its own checked before it commits, and one
        safemigrate cannot read (COPY, a stream) is refused."""
        run, connection = self._current, self._connection
        if run is None or connection is None or self._trusted or self._driver is None \
                or getattr(cursor, "connection", None) is not self._driver:
            return send()
        autocommit = bool(getattr(self._driver, "autocommit", False))
        text = raw_text(cursor, method, query)
        if text is None and not autocommit:
            return send()  # in the revision's transaction: the check at commit sees what it did
        if text is None:
            self._trusted += 1
            try:
                self._refuse(connection, DestructiveChangeBlocked(
                    f"Revision {run.revision} ({run.path}) sent SQL through a driver cursor's {method}() in an "
                    "autocommit block, in a form safemigrate cannot read before it runs.",
                    "In an autocommit block every statement commits as it runs: safemigrate must judge it first.",
                    "Use op.execute (or op.get_bind().exec_driver_sql) with the SQL as a string.",
                    rule="transaction-control", revision=run.revision, line=None))
            finally:
                self._trusted -= 1
        self._trusted += 1
        try:
            judge(connection, text, in_transaction=not autocommit, parameters=parameters, cursor=cursor,
                  executemany=method == "executemany")
        finally:
            self._trusted -= 1
        try:
            result = send()
        except BaseException:
            self._trusted += 1
            try:
                if self._step is not None:
                    self._step = None
                    _send(connection, "ROLLBACK")
            finally:
                self._trusted -= 1
            raise
        if self._step is not None:
            self._close_step(connection, cursor, str(text), parameters, None, method == "executemany")
        return result

    # -- a statement in an autocommit block --------------------------------------------------------------
    def _open_step(self, connection: Connection, run: _Revision) -> None:
        """Run this statement of an autocommit block in a transaction of its own, judged before it commits.

        Only what PostgreSQL cannot run in a transaction block (CREATE INDEX CONCURRENTLY, VACUUM...) is left
        to commit on its own; a DELETE whose condition only the data makes total is seen before it commits.
        """
        self._listen_steps(connection)
        _send(connection, "BEGIN")
        self._step = self._read(connection, run.revision, run.path)

    def _listen_steps(self, connection: Connection) -> None:
        if not any(c is connection for c in self._stepping):
            event.listen(connection, "after_cursor_execute", self._close_step)
            self._stepping.append(connection)
        if not event.contains(connection.engine, "handle_error", self._step_failed):
            event.listen(connection.engine, "handle_error", self._step_failed)  # removed when the step closes

    @_trusting
    def _close_step(self, connection: Connection, cursor: Any, statement: str, parameters: Any, context: Any,
                    executemany: bool) -> None:
        before, run = self._step, self._current
        if before is None or run is None or not self.owns(connection):
            return
        self._step = None
        if event.contains(connection.engine, "handle_error", self._step_failed):
            event.remove(connection.engine, "handle_error", self._step_failed)  # the engine may be the application's
        after = self._read(connection, run.revision, run.path, since=before)
        allowed = readable((*signoff.active(), *run.declared, *signoff.entered_since(run.mark)), run.path)
        found = [e for e in _effects(before, after)
                 if _blocks(e) and not any(s.covers(e.rule, e.target) for s in allowed)]
        _send(connection, "ROLLBACK" if found else "COMMIT")
        self._judge(connection, run, found, (), after_body=False)

    @_trusting
    def _step_failed(self, context: Any) -> None:
        if self._step is not None and self.owns(context.connection):
            self._step = None
            try:
                _send(context.connection, "ROLLBACK")
            except Exception:  # the connection is gone: the server rolled back
                pass

    def _refuse_control(self, connection: Connection, run: _Revision, parsed: PgStatement) -> None:
        node = parsed.node
        why = None
        if isinstance(node, ast.TransactionStmt) and node.kind in _ENDS_TRANSACTION:
            why = ("it would end the revision's transaction: what came before would commit (or vanish) "
                   "before safemigrate checked it", "transaction-control",
                   "Let Alembic commit each revision; for a statement that must run outside a transaction, "
                   "use `with op.get_context().autocommit_block():`.")
        elif isinstance(node, ast.VariableSetStmt) and node.name in {"role", "session_authorization"} \
                and node.kind is VariableSetKind.VAR_SET_VALUE and not _is_none(node):
            why = ("what the revision did next would run with another role's rights than the ones safemigrate "
                   "reads the catalog with", "set-role",
                   "Run the migration as the role that should own its objects (the connection's login role), "
                   "or grant that role what it needs.")
        if why is None:
            return
        consequence, rule, fix = why
        self._refuse(connection, DestructiveChangeBlocked(
            f"Revision {run.revision} ({run.path}) tried to run `{_short(parsed.text)}`: {consequence}.",
            "safemigrate stopped the statement before it reached the database and rolled the revision back.",
            fix, rule=rule, revision=run.revision, line=None))

    # -- the gate and the commit ---------------------------------------------------------------------
    def _transactional(self, connection: Connection) -> bool:
        return connection.in_transaction() and \
            connection.get_execution_options().get("isolation_level") != "AUTOCOMMIT"

    def _ensure_gate(self, connection: Connection) -> None:
        if self._gate_transaction is None and self._transactional(connection):
            self._gate_transaction = self._gate.arm(connection)

    def _check_gate(self, connection: Connection, run: _Revision) -> None:
        if self._gate_transaction is None:
            return
        try:
            armed = self._gate.armed_in(connection)
        except Exception:
            armed = None
        if armed == self._gate_transaction:
            return
        self._refuse(connection, DestructiveChangeBlocked(
            f"Revision {run.revision} ({run.path}) ended its transaction while it ran (a COMMIT or ROLLBACK sent "
            "past SQLAlchemy: through the driver, libpq or a multi-statement string).",
            "safemigrate arms every revision's transaction so that such a commit fails and rolls back; the "
            "revision went on in a new transaction, outside the one safemigrate checks. Whatever ran after that "
            "point and committed on its own may be in the database.",
            "Compare the database with the verified backup taken before this run and restore it if anything is "
            "missing (`safemigrate backup restore`); then let Alembic commit the revision instead.",
            rule="transaction-control", revision=run.revision, line=None))

    def _listen(self, connection: Connection) -> None:
        if any(c is connection for c in self._listening):
            return
        event.listen(connection, "rollback", self._on_rollback)
        self._listening.append(connection)
        self._hook_commit(connection.dialect)

    def _hook_commit(self, dialect: Any) -> None:
        """Judge each commit of the migration connection in the dialect's ``do_commit``, right before the driver
        commits: after every ``commit`` listener, so none of them (a revision can add its own, to the
        connection or its engine) runs after the last check."""
        if any(d is dialect for d, _ in self._hooked):
            return
        original = dialect.do_commit

        def do_commit(dbapi_connection: Any) -> None:  # SQLAlchemy passes its pool's proxy of the connection
            connection = next((c for c in self._listening if dbapi_connection in self._dbapi_of(c)), None)
            if connection is not None:
                self._on_commit(connection)
            original(dbapi_connection)

        dialect.do_commit = do_commit  # this dialect object only (its engine), until stop()
        self._hooked.append((dialect, original))

    @staticmethod
    def _dbapi_of(connection: Connection) -> tuple[Any, ...]:
        try:
            return connection.connection, connection.connection.dbapi_connection
        except Exception:  # closed or invalidated
            return ()

    def stop(self) -> None:
        for connection in self._listening:
            for name, listener in (("rollback", self._on_rollback),):
                if event.contains(connection, name, listener):
                    event.remove(connection, name, listener)
        self._listening.clear()
        for dialect, _ in self._hooked:
            vars(dialect).pop("do_commit", None)
        self._hooked.clear()

    def _on_rollback(self, connection: Connection) -> None:
        self._gate_transaction = None
        self._committed = None

    @_trusting
    def _on_commit(self, connection: Connection) -> None:
        run = self._current
        if run is None or not self._transactional(connection):
            return  # nothing under watch, or the empty transaction Alembic opens in an autocommit block
        self._check_gate(connection, run)
        if self._gate_transaction is not None:
            self._gate.disarm(connection)
        self._gate_transaction = None
        try:
            with pinned(connection) as cursor:
                cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # deferred triggers fire now, before the check
        except Exception as exc:
            self._unreadable(connection, run, exc)
        if run.checked is None:  # an autocommit block's commit in the body, or a body_done that never ran
            now = self._read(connection, run.revision, run.path, since=run.before)
            self._judge(connection, run, _effects(run.before, now), run.allowed(), after_body=False)
        else:
            self._committed = self._judge_after_body(connection, run)
            self._current = None

    def _judge_after_body(self, connection: Connection, run: _Revision) -> _effects_module.Catalog:
        assert run.checked is not None
        now = self._read(connection, run.revision, run.path, since=run.before, previous=run.checked)
        ours = {oid for oid, r in now.relations.items()
                if r.name == run.version_table or r.name.startswith("safemigrate_")}
        self._judge(connection, run, _after_body(run.checked, now, ours), (), after_body=True)
        return now

    # -- judging -------------------------------------------------------------------------------------
    def _read(self, connection: Connection, revision: str, path: str | None,
              since: _effects_module.Catalog | None = None,
              previous: _effects_module.Catalog | None = None,
              ours: frozenset[int] = frozenset()) -> _effects_module.Catalog:
        try:
            return _snapshot(connection, since, previous=previous, ours=ours)
        except _Unreadable as exc:
            self._unreadable(connection, _Revision(revision, path, (), 0, _effects_module.Catalog(), ""), exc)
            raise  # not reached: _refuse raises

    def _unreadable(self, connection: Connection, run: _Revision, exc: BaseException) -> None:
        self._refuse(connection, DestructiveChangeBlocked(
            f"safemigrate could not read the database's catalog while revision {run.revision} ({run.path}) ran: "
            f"{exc}.",
            "Without it safemigrate cannot tell what the revision did, so it rolled the revision back.",
            "Run the migration as a role that can read the catalog and the tables it migrates, and make sure the "
            "revision does not change the session (role, settings) safemigrate reads it with.",
            rule="catalog-unreadable", revision=run.revision, line=None))

    def _judge(self, connection: Connection, run: _Revision, found: list[_effects_module.Effect],
               allowed: tuple[SignOff, ...], *, after_body: bool) -> None:
        done = [e for e in found if _blocks(e) and not any(s.covers(e.rule, e.target) for s in allowed)]
        if not done:
            return
        first = done[0]
        when = "after its body had finished, before its commit, " if after_body else ""
        self._refuse(connection, DestructiveChangeBlocked(
            f"Revision {run.revision} ({run.path}) {when}{'; '.join(e.description for e in done)}.",
            "safemigrate read what the revision did from the database's catalog before its transaction "
            "committed, whatever path sent the SQL, and rolled the revision back: nothing of it stayed"
            + (" (except what another connection committed, if the message says so: restore that from the "
               "verified backup taken before this run)" if any("another connection" in e.description for e in done)
               else "") + ".",
            "If this change is deliberate, sign it off in the migration: "
            f"`with allow({first.rule!r}, {first.target!r}, reason='...'):` around it, or "
            f"`safemigrate_allow = [allow({first.rule!r}, {first.target!r}, reason='...')]` at module level."
            + (" Nothing may run after the body (listeners, callbacks, triggers): do it in upgrade()."
               if after_body else ""),
            rule=first.rule, revision=run.revision, line=None,
        ))


def _updated_tables(parsed: list[PgStatement]) -> set[str]:
    """The tables these statements update in place (UPDATE, INSERT ... ON CONFLICT DO UPDATE, MERGE), wherever
    they run (a CTE, a DO block, a function body they create), as lower-case labels (``public.`` left out)."""
    found: set[str] = set()
    for one in parsed:
        for top, _, _ in statements_run(one.node, Context()):
            for node in executed_nodes(top):
                if isinstance(node, ast.UpdateStmt | ast.MergeStmt) or (
                        isinstance(node, ast.InsertStmt) and node.onConflictClause is not None):
                    found.add(relation(node.relation).lower().removeprefix("public."))
    return found


def _blocks(effect: _effects_module.Effect) -> bool:
    if effect.rule in _EFFECT_ONLY:
        return _EFFECT_ONLY[effect.rule]
    rule = load_rules().get(effect.rule)
    return rule is None or rule.severity is Severity.ERROR


def _send(connection: Connection, sql: str) -> None:
    """Transaction control on the driver's connection (a session setting made inside would not survive it)."""
    cursor = connection.connection.cursor()
    try:
        cursor.execute(sql)
    finally:
        cursor.close()


def _outside_transactions(node: Any) -> bool:
    """Statements PostgreSQL refuses (or should not be given) inside a transaction block."""
    if isinstance(node, (ast.IndexStmt, ast.DropStmt)) and node.concurrent:
        return True
    if isinstance(node, ast.ReindexStmt):
        return any(getattr(p, "defname", None) == "concurrently" for p in node.params or ())
    return isinstance(node, (ast.VacuumStmt, ast.AlterEnumStmt, ast.TransactionStmt, ast.CreatedbStmt,
                             ast.DropdbStmt, ast.AlterSystemStmt, ast.CreateTableSpaceStmt,
                             ast.DropTableSpaceStmt, ast.VariableSetStmt))


def _is_none(node: Any) -> bool:
    """``SET ROLE NONE``: back to the login role."""
    for arg in node.args or ():
        value = getattr(getattr(arg, "val", None), "sval", None)
        if isinstance(value, str) and value.lower() == "none":
            return True
    return False


def _rendered(cursor: Any, statement: str, parameters: Any, executemany: bool) -> list[str]:
    """``statement`` as the server runs it, its parameters in place (one per parameter set), when the driver
    can render it on the client; else the statement as sent."""
    if not parameters:
        return [statement]
    sets = list(parameters)[:_MAX_PARAMETER_SETS] if executemany else [parameters]
    mogrify = _mogrifier(cursor)
    if mogrify is None:
        return [statement]
    rendered: list[str] = []
    for one in sets:
        try:
            text = mogrify(statement, one)
        except Exception:
            return [statement]
        rendered.append(text.decode() if isinstance(text, bytes) else str(text))
    return list(dict.fromkeys(rendered)) or [statement]


def _mogrifier(cursor: Any) -> Callable[[str, Any], Any] | None:
    if hasattr(cursor, "mogrify"):  # psycopg2, or a psycopg client-side cursor
        return cursor.mogrify
    module = type(cursor).__module__ or ""
    if module.startswith("psycopg.") or module == "psycopg":
        import psycopg

        def mogrify(sql: str, parameters: Any) -> str:
            with psycopg.ClientCursor(cursor.connection) as client:
                return client.mogrify(sql, parameters)

        return mogrify
    return None


def _short(sql: str, limit: int = 200) -> str:
    text = " ".join(sql.split())
    return text if len(text) <= limit else text[:limit] + "..."
