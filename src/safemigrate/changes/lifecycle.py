"""A change after it is written: its phase in a database, the backfill, abort, and the late contract revision.

The phase is read from two places: the catalog says what the revisions did
(the new column and the trigger exist: expanded; the old column is gone:
contracted), ``safemigrate_changes`` says what safemigrate did in between
(backfilling with its checkpoint, backfilled and verified, aborted).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING

from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError

from safemigrate.changes import mysql, sql, tables
from safemigrate.changes.author import require_supported, write_contract_file
from safemigrate.changes.results import BackfillReport, ChangeState, ChangeStatusReport, ChangeWritten
from safemigrate.changes.revisions import describe, model_steps
from safemigrate.core.db import engine_for, unreachable
from safemigrate.core.errors import LockBlocked, SafemigrateError, UsageError
from safemigrate.core.secrets import mask_url
from safemigrate.state import changes as state
from safemigrate.state.changes import ChangePlan, PhaseRow, load_plans, save_plan

if TYPE_CHECKING:

    from safemigrate.harness.workspace import Workspace

#: A batch should hold its row locks for less than this (the size adapts to it): a write of the application
#: to a row of the batch waits at most that long (docs/PERFORMANCE.md, the write stall of a backfill).
TARGET_BATCH_MS = 30.0
#: PostgreSQL cancels a batch that runs this many times its target (its locks go with it): an I/O hiccup never
#: holds rows longer than that. The batch is redone at its size once (one slow batch is most often the machine's
#: noise, not its size), then halved; at the smallest size the limit doubles instead (up to MAX_TIMEOUT_MS) so
#: that a slow server slows the backfill down, never stops it.
TIMEOUT_FACTOR = 1.5
MAX_TIMEOUT_MS = 1000
MIN_BATCH = 50
LOCK_TIMEOUT = "1s"
PAUSE_S = 0.02
_LOCK_RETRIES = 20
_LOCK_NOT_AVAILABLE = "55P03"
_CANCELLED = "57014"  # statement_timeout
#: MySQL/MariaDB: a row lock waited for longer than innodb_lock_wait_timeout, or a deadlock the batch lost.
_MYSQL_LOCK_ERRORS = (1205, 1213)


def _plan(project: Workspace, name: str) -> ChangePlan:
    plans = load_plans(project.layout.script_location)
    if name not in plans:
        known = ", ".join(sorted(plans)) or "none"
        raise UsageError(f"No expand–contract change is named {name!r} (known: {known}).",
                         f"Changes are recorded in {state.plan_folder(project.layout.script_location)}.",
                         "See `safemigrate change status` for the names.")
    return plans[name]


def _catalog_phase(conn: Connection, plan: ChangePlan) -> str:
    if plan.dialect == "mysql":
        found = conn.execute(text(mysql.CATALOG), {"table": plan.table, "column": plan.column,
                                                   "new_column": plan.new_column or "",
                                                   "trigger": mysql.trigger_name(plan, "INSERT")}).one()
        return _phase_from(plan, *found)
    if plan.kind == sql.RENAME_TABLE:
        has_old, has_new = conn.execute(text(sql.TABLES), {"table": sql.q(plan.table),
                                                            "new_table": sql.q(plan.new_table or "")}).one()
        return state.PLANNED if not has_new else state.CONTRACTED if not has_old else state.EXPANDED
    found = conn.execute(text(sql.CATALOG), {"table": sql.q(plan.table), "column": plan.column,
                                             "new_column": plan.new_column or "", "trigger": sql.object_name(plan)
                                             }).one()
    return _phase_from(plan, *found)


def _phase_from(plan: ChangePlan, has_column: object, has_new: object, has_trigger: object, not_null: object) -> str:
    if plan.kind in sql.TWO_COLUMNS:
        if not has_new:
            return state.PLANNED
        return state.CONTRACTED if not has_column else state.EXPANDED
    if plan.kind == sql.DROP_COLUMN:
        if not has_column:
            return state.CONTRACTED
        return state.PLANNED if plan.not_null and not_null else state.EXPANDED
    if has_trigger:
        return state.EXPANDED
    return state.CONTRACTED if not_null else state.PLANNED


def phase_of(conn: Connection, plan: ChangePlan, row: PhaseRow | None) -> str:
    catalog = _catalog_phase(conn, plan)
    if catalog in (state.PLANNED, state.CONTRACTED):
        return state.ABORTED if row is not None and row.phase == state.ABORTED else catalog
    return row.phase if row is not None and row.phase not in (state.PLANNED, state.CONTRACTED) else catalog


def _next_step(plan: ChangePlan, phase: str) -> str:
    if phase == state.PLANNED:
        return f"deploy the expand revision {plan.expand_revision} (`safemigrate migrate`)"
    if phase in (state.EXPANDED, state.BACKFILLING) and plan.needs_backfill:
        return f"`safemigrate change backfill {plan.name}`"
    if phase in (state.EXPANDED, state.BACKFILLED):
        if plan.contract_revision is None:
            return f"deploy the new model, then `safemigrate change contract {plan.name}` writes the contract"
        return f"deploy the new model, then the contract revision {plan.contract_revision}"
    if phase == state.ABORTED:
        return "undo the expand revision (its downgrade) and delete the contract revision and the plan file"
    return "done"


def status(project: Workspace) -> ChangeStatusReport:
    """Every change of the project (and any the database knows of) with its phase in the live database."""
    url = project.require_live()
    require_supported(url)
    plans = load_plans(project.layout.script_location)
    report = ChangeStatusReport(database=mask_url(url))
    try:
        with engine_for(url) as engine, engine.connect() as conn:
            rows = state.read_all(conn)
            for name in sorted(set(plans) | set(rows)):
                plan, row = plans.get(name), rows.get(name)
                if plan is None:
                    assert row is not None
                    report.changes.append(ChangeState(name, row.kind, f"{row.kind} on {row.table_name} "
                                                      "(no plan file in this project)", row.phase, "", None,
                                                      row.batches, row.rows_done, row.last_key))
                    continue
                phase = phase_of(conn, plan, row)
                report.changes.append(ChangeState(
                    name, plan.kind, describe(plan), phase, plan.expand_revision, plan.contract_revision,
                    row.batches if row else 0, row.rows_done if row else 0, row.last_key if row else None,
                    row.verified_at.isoformat() if row and row.verified_at else None, _next_step(plan, phase)))
    except SafemigrateError:
        raise
    except DBAPIError as exc:
        raise unreachable(url, exc) from exc
    return report


def abort(project: Workspace, name: str) -> ChangeState:
    """Record that ``name`` will not be completed: its contract revision is refused from now on."""
    url = project.require_live()
    require_supported(url)
    plan = _plan(project, name)
    try:
        with engine_for(url) as engine, engine.begin() as conn:
            state.ensure(conn)
            row = state.read(conn, name, for_update=True)
            phase = phase_of(conn, plan, row)
            if phase == state.CONTRACTED:
                raise UsageError(f"Change {name} is contracted already: {describe(plan)} is done.",
                                 "Its contract revision dropped the old shape; there is nothing left to abort.",
                                 "Write a new change to go back (for a rename, rename-column the other way).")
            state.record_phase(conn, plan, state.ABORTED, note=f"aborted in phase {phase}")
            row = state.read(conn, name)
    except DBAPIError as exc:
        raise unreachable(url, exc) from exc
    assert row is not None
    return ChangeState(name, plan.kind, describe(plan), state.ABORTED, plan.expand_revision, plan.contract_revision,
                       row.batches, row.rows_done, row.last_key, None, _next_step(plan, state.ABORTED))


def write_contract(project: Workspace, name: str) -> ChangeWritten:
    """The contract revision of a change written with ``--contract-later``."""
    plan = _plan(project, name)
    if plan.contract_revision:
        raise UsageError(f"Change {name} has its contract revision already ({plan.contract_revision}).",
                         "A change has one contract revision.", "Deploy it; `safemigrate change status` shows when.")
    path = write_contract_file(project, plan)
    save_plan(project.layout.script_location, plan)
    return ChangeWritten(name, plan.kind, describe(plan), plan.expand_revision, plan.contract_revision, [str(path)],
                         str(state.plan_folder(project.layout.script_location) / f"{name}.json"), model_steps(plan))


def backfill(project: Workspace, name: str, *, target_ms: float = TARGET_BATCH_MS, pause_s: float = PAUSE_S,
             batch_size: int = 1000, max_batch_size: int = 50_000,
             on_batch: Callable[[int, object], None] | None = None) -> BackfillReport:
    """Fill the new shape from the old one in keyset batches, resumable, then verify: phase backfilled."""
    url = project.require_live()
    require_supported(url)
    plan = _plan(project, name)
    started = time.monotonic()
    try:
        with engine_for(url) as engine:
            if plan.dialect == "mysql":  # a batch's UPDATE locks only the rows it writes, no gaps: an INSERT
                engine = engine.execution_options(isolation_level="READ COMMITTED")  # never waits for it
            return _backfill(engine, plan, started, target_ms, pause_s, batch_size, max_batch_size, on_batch)
    except SafemigrateError:
        raise
    except DBAPIError as exc:
        if getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None):
            raise UsageError(f"The backfill of {name} failed: {str(exc.orig).strip().splitlines()[0]}",
                             "Every batch is its own transaction: the batches before it are kept, and the "
                             "checkpoint names the last one.",
                             f"Fix the cause and run `safemigrate change backfill {name}` again: it resumes.") from exc
        raise unreachable(url, exc) from exc


def _sql(plan: ChangePlan):  # the module with end_key/verify for the plan's database
    return mysql if plan.dialect == "mysql" else sql


def _code(exc: DBAPIError) -> str | None:
    return getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None)


def _lock_wait(exc: DBAPIError) -> bool:
    """The batch gave up waiting for a row lock (lock_timeout; MySQL: innodb_lock_wait_timeout or a deadlock)."""
    if _code(exc) == _LOCK_NOT_AVAILABLE:
        return True
    args: tuple[object, ...] = tuple(getattr(exc.orig, "args", ()))
    return bool(args) and args[0] in _MYSQL_LOCK_ERRORS


def _batch(conn: Connection, plan: ChangePlan, last: object | None, end: object, size: int, timeout_ms: int
           ) -> tuple[object, int, int, float]:
    """One batch and its checkpoint in ``conn``'s transaction: (its last key, keys scanned, rows written, how long
    the statement that locks the rows took, in ms)."""
    first = last is None
    if plan.dialect == "mysql":
        conn.execute(text("SET SESSION innodb_lock_wait_timeout = 1"))  # seconds: the smallest it takes
        key, scanned = conn.execute(text(mysql.batch_keys(plan, first)), {"after": last, "end": end,
                                                                          "size": size}).one()
        if not scanned:
            return key, 0, 0, 0.0
        began = time.monotonic()
        written = conn.execute(text(mysql.batch_update(plan, first)), {"after": last, "last": key}).rowcount
        elapsed = (time.monotonic() - began) * 1000
        state.checkpoint(conn, plan.name, key, int(written))
        return key, int(scanned), int(written), elapsed
    # one round trip: lock_timeout, the batch's time limit, and a commit that releases the rows without waiting
    # for its WAL to reach the disk (a server crash may lose the last batches, and their checkpoint with them,
    # same transaction: the backfill redoes them)
    conn.execute(text("SELECT set_config('lock_timeout', :lock, true), set_config('statement_timeout', :limit, "
                      "true), set_config('synchronous_commit', 'off', true)"),
                 {"lock": LOCK_TIMEOUT, "limit": f"{timeout_ms}ms"})
    query = tables.batch(plan, first=first) if plan.kind == sql.RENAME_TABLE else sql.batch(plan, first=first)
    # the statement's time as the server measured it (as statement_timeout does): the network, the client's
    # scheduling and its other threads (an application in the same process holds the GIL) do not count
    key, scanned, written, elapsed = conn.execute(text(query), {"after": last, "end": end, "size": size,
                                                                "name": plan.name}).one()
    return key, int(scanned or 0), int(written or 0), float(elapsed or 0.0)


def _backfill(engine, plan: ChangePlan, started: float, target_ms: float, pause_s: float, size: int,
              max_size: int, on_batch: Callable[[int, object], None] | None) -> BackfillReport:
    with engine.begin() as conn:
        state.ensure(conn)
        row = state.read(conn, plan.name, for_update=True)
        phase = phase_of(conn, plan, row)
        if phase == state.PLANNED:
            raise UsageError(f"Change {plan.name} is not expanded in this database: {describe(plan)}.",
                             "The backfill fills the columns and relies on the trigger the expand revision adds.",
                             f"Apply the expand revision {plan.expand_revision} first (`safemigrate migrate`).")
        if phase in (state.ABORTED, state.CONTRACTED):
            raise UsageError(f"Change {plan.name} is {phase}: there is nothing to backfill.",
                             "", "`safemigrate change status` shows every change and its phase.")
        resumed_after = row.last_key if row is not None and phase == state.BACKFILLING else None
        state.record_phase(conn, plan, state.BACKFILLING, reset=phase != state.BACKFILLING)
        end = conn.execute(text(_sql(plan).end_key(plan))).scalar() if plan.needs_backfill else None
    report = BackfillReport(plan.name, state.BACKFILLING, resumed_after, 0, 0, 0, resumed_after, size, 0.0, 0.0,
                            0, False)
    after = resumed_after
    for _ in range(3):  # a pass that leaves rows behind (none expected: the trigger covers writes) is repeated
        size = _one_pass(engine, plan, report, after, end, size, target_ms, pause_s, max_size, on_batch)
        with engine.begin() as conn:
            check = tables.verify(plan) if plan.kind == sql.RENAME_TABLE else _sql(plan).verify(plan)
            remaining = int(conn.execute(text(check)).scalar() or 0) if plan.needs_backfill else 0
        if not remaining:
            break
        after = None
    with engine.begin() as conn:
        report.remaining = remaining
        report.verified = remaining == 0
        report.phase = state.BACKFILLED if report.verified else state.BACKFILLING
        state.record_phase(conn, plan, report.phase, verified=report.verified,
                           note=None if report.verified else f"{remaining} row(s) still differ after the pass")
    report.duration_ms = (time.monotonic() - started) * 1000
    return report


def _one_pass(engine, plan: ChangePlan, report: BackfillReport, last: object | None, end: object | None, size: int,
              target_ms: float, pause_s: float, max_size: int,
              on_batch: Callable[[int, object], None] | None) -> int:
    """Batches from ``last`` (exclusive) to ``end``; returns the batch size reached."""
    retries = 0
    base_timeout = timeout_ms = max(10, int(target_ms * TIMEOUT_FACTOR))
    sizer = _Sizer(size, target_ms, max_size)
    # the database orders the keys (a text key sorts by its collation, not as Python would): a pass ends when a
    # batch finds no key left up to ``end``
    while plan.needs_backfill and end is not None:
        try:
            with engine.begin() as conn:
                key, scanned, written, elapsed = _batch(conn, plan, last, end, size, timeout_ms)
                if not scanned:
                    break
        except DBAPIError as exc:
            if _code(exc) == _CANCELLED and timeout_ms < MAX_TIMEOUT_MS:  # over its time: undone, locks released
                report.cancelled += 1
                # at the smallest size already: the server is slow, not the batch large
                if not sizer.cancelled(timeout_ms):
                    timeout_ms = min(MAX_TIMEOUT_MS, timeout_ms * 2)
                size = sizer.size
                time.sleep(pause_s)
                continue
            waited = _lock_wait(exc)
            if not waited or retries >= _LOCK_RETRIES:
                if waited:
                    raise LockBlocked(f"The backfill of {plan.name} waited for row locks on {plan.table} "
                                      f"{retries} times ({LOCK_TIMEOUT} each) and gave up.",
                                      "Long transactions hold rows of the table; the backfill never waits longer "
                                      "than lock_timeout so it never stalls the application behind it.",
                                      f"Run `safemigrate change backfill {plan.name}` again later: it resumes "
                                      "after its checkpoint.") from exc
                raise
            retries += 1
            size = sizer.halve()
            time.sleep(pause_s * 10)
            continue
        timeout_ms = max(base_timeout, int(timeout_ms * 0.75))
        last = key
        report.batches += 1
        report.rows_written += int(written)
        report.rows_scanned += int(scanned)
        report.last_key = key
        report.batch_size = size
        report.slowest_batch_ms = max(report.slowest_batch_ms, elapsed)
        if on_batch is not None:
            on_batch(report.batches, key)
        size = sizer.succeeded(int(scanned), elapsed)
        time.sleep(pause_s)
    return size


def _second_slowest(values: deque[float]) -> float:
    ordered = sorted(values)
    return ordered[-2] if len(ordered) > 1 else ordered[-1]


class _Sizer:
    """The next batch's size, sized on the statement that holds the rows (the round trips around it lock nothing).

    It aims at 80 % of the target at the time per key of the last five batches, the second slowest of them
    (a cancelled one counts at its time limit): one batch slowed by a checkpoint or by the scheduler of a busy
    machine does not shrink the next, two do, and the size never settles where every other batch is
    cancelled. It moves by at most a factor of two per batch. A cancelled batch (over its time limit) is redone
    at the same size once, and halved when it is cancelled again: before this, one cancel halved, and on a
    machine loaded twice over, noise cancelled a third of the batches and kept them near the smallest size
    (2036 batches and 194 s for 200,000 rows, 18 batches and 2.7 s on a quiet one; docs/PERFORMANCE.md).
    """

    def __init__(self, size: int, target_ms: float, max_size: int) -> None:
        self.size = size
        self.target_ms = target_ms
        self.max_size = max_size
        self.per_key: deque[float] = deque(maxlen=5)  # ms per key of the last batches (a cancel: its limit)
        self.cancels = 0  # cancels in a row

    def succeeded(self, scanned: int, elapsed_ms: float) -> int:
        self.cancels = 0
        if scanned:
            self.per_key.append(max(elapsed_ms, 0.01) / scanned)
        if self.per_key:
            wanted = self.target_ms * 0.8 / _second_slowest(self.per_key)
            self.size = int(min(self.size * 2, max(self.size / 2, wanted)))
        self.size = min(self.max_size, max(MIN_BATCH, self.size))
        return self.size

    def cancelled(self, limit_ms: float) -> bool:
        """Count a cancel; False when the batch is at the smallest size already. Its time per key is at least
        the limit's: counted with the others, so that the size does not settle where only the batches that
        finished look fast enough."""
        self.cancels += 1
        self.per_key.append(limit_ms / max(self.size, 1))
        if self.size <= MIN_BATCH:
            return False
        if self.cancels > 1:
            self.halve()
        return True

    def halve(self) -> int:
        self.size = max(MIN_BATCH, self.size // 2)
        return self.size
