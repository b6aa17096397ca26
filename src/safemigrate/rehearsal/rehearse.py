"""``safemigrate rehearse``: run revisions on a copy with volume, and measure what each statement costs.

1. Get the copy (:mod:`safemigrate.rehearsal.copies`); a synthetic one is upgraded to the revision before the
   range and filled (:mod:`safemigrate.rehearsal.synthetic`).
2. Start a writer and a reader probe on every table the copy has (:mod:`safemigrate.rehearsal.probes`).
3. Run the revisions through the project's env.py, in its own process, with a
   :class:`~safemigrate.harness.measure.MeasureSpec`: each statement comes back timed, with the locks it took,
   when they were released and the tables it rewrote.
4. Charge each probe sample to the statement that stalled it (:mod:`safemigrate.rehearsal.stalls`) and hold
   every statement to the budgets.
"""

from __future__ import annotations

import re
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import SQLAlchemyError

from safemigrate._version import __version__
from safemigrate.config.rehearsal import Budgets
from safemigrate.core.db import connected
from safemigrate.core.errors import MigrationFailed, RevisionGraphError, SafemigrateError
from safemigrate.core.secrets import mask_url
from safemigrate.core.urls import backend_of, with_driver_of
from safemigrate.harness.blocker import named_tables as named_in
from safemigrate.harness.measure import MARK, LockTaken, MeasuredStatement, MeasureSpec
from safemigrate.harness.requests import EnvRunRequest, Reads
from safemigrate.harness.session import EnvSession
from safemigrate.rehearsal.copies import Copy, CopySource, check_source, copy_for
from safemigrate.rehearsal.probes import LockSeen, ProbeKind, Probes, Sample
from safemigrate.rehearsal.results import BlockerReport, CopyInfo, Lock, MeasuredRow, RehearsalReport
from safemigrate.rehearsal.stalls import Stall, charge, queued
from safemigrate.rehearsal.synthetic import fill, plan_rows, user_tables
from safemigrate.state import ledger, rehearsals

if TYPE_CHECKING:
    from safemigrate.harness.workspace import Workspace

__all__ = ["CopySource", "RehearsalReport", "rehearse"]

MAX_PROBED_TABLES = 20  # 41 connections, and probes that still leave the migration most of two cores


def rehearse(project: Workspace, revision_range: str | None = None, *, source: CopySource,
             budgets: Budgets | None = None, blocker_ms: int | None = None, retries: int = 3,
             record: bool | None = None) -> RehearsalReport:
    """Rehearse the pending revisions (or ``revision_range``) on the copy ``source`` describes.

    Statements run with the configured ``lock_timeout``, and a revision that hits it is retried ``retries``
    times with backoff, as ``safemigrate migrate`` does. ``blocker_ms``: before each statement, a session holds
    the tables it names (ACCESS SHARE) for that long (:mod:`safemigrate.harness.blocker`).
    """
    settings = project.settings.rehearsal
    if not (source.template or source.from_url or source.backup or source.synthetic) and settings.rows is not None:
        source = CopySource(rows=settings.rows)
    budgets = budgets or settings.budgets
    origin = check_source(project, source)
    with copy_for(source, origin, project) as copy:
        url = with_driver_of(copy.url, project.database_named or project.scratch_server)
        session = EnvSession(project.settings, url, dialect=backend_of(url), verbose=project.verbose, throwaway=True)
        try:
            report = _rehearse_on(project, session, copy, source, revision_range, budgets,
                                  _Policy(project.settings.lock_timeout_ms, blocker_ms, retries))
        finally:
            session.close()
    _record(project, report, record)
    return report


def _record(project: Workspace, report: RehearsalReport, record: bool | None) -> None:
    """Keep what was rehearsed in the project's database, for require_rehearsal (:mod:`safemigrate.state.rehearsals`):
    when asked (``record``), by default when require_rehearsal is configured."""
    wanted = record if record is not None else project.settings.rehearsal.require_rehearsal_ms is not None
    if not wanted or not report.revisions:
        return
    live = project.database_url
    if live is None:
        report.warnings.append("This rehearsal was not recorded: the project's database URL is not set "
                               f"(${project.settings.database_url_env}), so require_rehearsal cannot count it.")
        return
    checksums = {}
    for revision in report.revisions:
        found = project.history.get(revision)
        if found is not None:
            checksums[revision] = ledger.checksum(found.path)
    try:
        with connected(live, transaction=True) as conn:
            rehearsals.record(conn, checksums, ok=report.ok, copy=report.copy.method, by=ledger.who(),
                              tool_version=__version__)
    except (SafemigrateError, SQLAlchemyError) as exc:
        why = exc.what if isinstance(exc, SafemigrateError) else str(getattr(exc, "orig", None) or exc).splitlines()[0]
        report.warnings.append(f"This rehearsal was not recorded in {mask_url(live)} ({why}): require_rehearsal "
                               "cannot count it.")
        return
    report.recorded = f"{mask_url(live)} ({rehearsals.TABLE})"
    report.notes.append(f"Recorded in {report.recorded} for require_rehearsal: {', '.join(checksums)}, "
                        + ("passing." if report.ok else "over budget (it does not count as a passing rehearsal)."))


@dataclass(frozen=True)
class _Policy:
    """The runner's policy the rehearsal applies: lock_timeout, retries with backoff; and --blocker."""

    lock_timeout_ms: int
    blocker_ms: int | None
    retries: int


def _rehearse_on(project: Workspace, session: EnvSession, copy: Copy, source: CopySource,
                 revision_range: str | None, budgets: Budgets, policy: _Policy) -> RehearsalReport:
    history = project.history
    report = RehearsalReport(CopyInfo(source.method, copy.description, copy.throwaway, copy.backup_id), [], budgets,
                             blocker_ms=policy.blocker_ms)
    if source.synthetic:
        plan = [r.revision for r in history.in_range(revision_range)] if revision_range else history.heads[-1:]
        if not plan:
            report.notes.append(f"The range {revision_range} holds no revision: nothing to rehearse.")
            return report
        lower = history.span(plan).split(":", 1)[0]
        if lower != "base":
            session.run(EnvRunRequest("upgrade", lower, baseline=True,
                                      purpose=f"build the synthetic copy at revision {lower}"))
        version_table = "alembic_version"
        with connected(copy.url) as conn:
            tables = user_tables(conn, {version_table})
            wanted = plan_rows(tables, source.rows, source.table_rows)
            started = time.perf_counter()
            report.fill = fill(conn, wanted)
        total = sum(f.rows for f in report.fill)
        seconds = time.perf_counter() - started
        report.notes.append(f"Synthetic fill: {total} rows in {len(report.fill)} table(s) in {seconds:.1f} s "
                            f"({total / seconds if seconds else 0:.0f} rows/s).")
    else:
        read = session.run(EnvRunRequest("read", reads=Reads(heads=True), purpose="read the copy's revision"))
        pending = history.pending(read.heads or [])
        if revision_range:
            wanted_revisions = {r.revision for r in history.in_range(revision_range)}
            unknown = [r for r in wanted_revisions if r not in pending]
            if unknown and not pending:
                raise RevisionGraphError(
                    f"The copy has already applied the range {revision_range} (it is at "
                    f"{', '.join(read.heads or []) or 'no revision'}).",
                    "A rehearsal runs revisions the copy has not applied yet.",
                    "Rehearse on a copy of a database that is behind, or a range after the copy's revision.",
                )
            plan = [r for r in pending if r in wanted_revisions]
        else:
            plan = pending
        if not plan:
            report.notes.append("Nothing to rehearse: the copy is at the revisions of the code.")
            return report
        lower = history.span(plan).split(":", 1)[0]
        before = pending[:pending.index(plan[0])]
        if before:  # pending revisions before the range: applied first, not measured
            session.run(EnvRunRequest("upgrade", lower, purpose=f"bring the copy to revision {lower}"))
            report.notes.append(f"Applied without measuring first: {', '.join(before)}.")
        read = session.run(EnvRunRequest("read", reads=Reads(heads=True), purpose="read the copy's revision"))
        version_table = read.version_table
        with connected(copy.url) as conn:
            tables = _tables(conn, version_table)
    report.revisions = plan
    with connected(copy.url) as conn:
        probed = probe_targets(conn, tables, _revision_sources(project, plan), report.notes)
    _measure(project, session, copy, plan[-1], probed, report, policy)
    return report


#: Seconds before the first retry after a lock timeout, doubled at each retry (runner/migrate.py's default).
BACKOFF = 2.0


def _measure(project: Workspace, session: EnvSession, copy: Copy, target: str, tables: list[str],
             report: RehearsalReport, policy: _Policy) -> None:
    probes = Probes(copy.url, tables)
    report.probed_tables = tables
    report.probe_interval_ms = round(probes.interval * 1000, 1)
    backend = backend_of(copy.url)
    if backend == "mysql":
        report.notes.append(MYSQL_LIMITS)
    spec = MeasureSpec(backend=backend, lock_timeout_ms=policy.lock_timeout_ms, blocker_ms=policy.blocker_ms,
                       token=uuid.uuid4().hex)
    request = EnvRunRequest("upgrade", target, measure=spec,
                            purpose=f"rehearse the revisions up to {target} on the copy")
    probes.start()
    started = time.perf_counter()
    failed: list[tuple[float, float]] = []  # attempts that hit lock_timeout: (started, ended)
    gave_up: MigrationFailed | None = None
    run = None
    try:
        while run is None:
            attempt_started = time.monotonic()
            try:
                run = session.run(request)
            except MigrationFailed as exc:
                if not exc.lock_timeout:
                    raise
                failed.append((attempt_started, time.monotonic()))
                if len(failed) > policy.retries:
                    gave_up = exc
                    break
                time.sleep(BACKOFF * (2 ** (len(failed) - 1)))
    finally:
        report.total_ms = round((time.perf_counter() - started) * 1000, 1)
        probes.stop()
    report.notes += [f"Probe: {error}" for error in probes.errors]
    if probes.locks_unread:
        report.warnings.append(f"Locks not measured: {probes.locks_unread}. Durations and the writer and reader "
                               "stalls were measured.")
    if failed and gave_up is None:
        report.notes.append(f"{len(failed)} attempt(s) hit lock_timeout ({policy.lock_timeout_ms} ms) and were "
                            f"retried, as `safemigrate migrate --retries {policy.retries}` would.")
    measured = run.measured or [] if run is not None else []
    charged = charge(measured, probes.samples)
    budgets = report.budgets
    for index, statement in enumerate(measured):
        per_kind = charged[index]
        if statement.blocker is not None:  # what the application felt while earlier attempts queued
            per_kind = queued(statement.blocker, probes.samples, per_kind)
        writer = Stall.of(per_kind["writer"])
        reader = Stall.of(per_kind["reader"])
        report.statements.append(_row(statement, writer, reader, budgets, probes.locks_seen, policy))
    if gave_up is not None:
        report.statements.append(_gave_up(gave_up, failed, probes.samples, policy))
        report.notes.append(f"The rehearsal stopped at revision {gave_up.revision}: the revisions after it did not "
                            "run, and the statements of those before it (applied in the attempts) are not in this "
                            "report; rehearse again without --blocker, or with a longer lock_timeout, to see them.")
    for row in report.statements:
        if row.rewrite:
            report.warnings.append(f"{row.revision}: `{_short(row.sql)}` rewrote {', '.join(row.rewritten)}: every "
                                   "row was written again, under ACCESS EXCLUSIVE.")
        for reason in row.exceeded:
            report.warnings.append(f"{row.revision}: `{_short(row.sql)}` {reason}.")
    report.warnings += [_queued_warning(row) for row in report.statements if row.blocker is not None]
    for statement in measured:
        if statement.unread:
            report.warnings.append(f"{statement.revision}: the locks, rewrites and WAL of `{_short(statement.sql)}` "
                                   f"could not be read ({statement.unread}); its stalls were still measured.")


def _revision_sources(project: Workspace, plan: list[str]) -> str:
    texts = []
    for revision in plan:
        record = project.history.get(revision)
        try:
            texts.append(Path(record.path).read_text(encoding="utf-8", errors="replace") if record else "")
        except OSError:
            continue
    return "\n".join(texts)


#: What a rehearsal on MySQL/MariaDB does not measure, said in every such report.
MYSQL_LIMITS = ("MySQL/MariaDB: each statement commits on its own, so its metadata locks are held only while it runs "
                "(sampled from performance_schema when it is on); table rewrites and WAL (binlog) bytes are not "
                "measured; a DML statement's row locks are not seen by the probes (they take metadata locks only).")


def _tables(conn: Connection, version_table: str) -> list[str]:
    """The copy's tables (safemigrate's and the version table left out)."""
    if conn.dialect.name not in {"mysql", "mariadb"}:
        return user_tables(conn, {version_table})
    names = conn.execute(text("SELECT table_name FROM information_schema.tables WHERE table_schema = DATABASE() "
                              "AND table_type = 'BASE TABLE' ORDER BY table_name")).scalars().all()
    return [str(n) for n in names if n != version_table and not str(n).startswith("safemigrate_")]


def probe_targets(conn: Connection, tables: list[str], source: str, notes: list[str]) -> list[str]:
    """The tables to probe: those the revision files name (else all), the largest first, as many as the server's
    free connections allow (two per table) and at most MAX_PROBED_TABLES."""
    named = [t for t in tables if re.search(rf"\b{re.escape(t.split('.')[-1])}\b", source)]
    candidates = named or tables
    mysql = conn.dialect.name in {"mysql", "mariadb"}
    free = conn.execute(text("SELECT @@max_connections - (SELECT count(*) FROM information_schema.processlist)"
                             if mysql else
                             "SELECT current_setting('max_connections')::int - count(*) FROM pg_stat_activity")) \
        .scalar() or 0
    room = max(1, min(MAX_PROBED_TABLES, (int(free) - 10) // 2))
    if len(candidates) > room:
        sizes: dict[str, float] = dict(conn.execute(text(
            "SELECT table_name, table_rows FROM information_schema.tables WHERE table_schema = DATABASE()") if mysql
            else text("SELECT CASE WHEN n.nspname = 'public' THEN c.relname ELSE n.nspname || '.' || c.relname END, "
            "c.reltuples FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE c.relkind IN ('r', 'p')")).all())
        chosen = sorted(candidates, key=lambda t: -(sizes.get(t) or 0))[:room]
        notes.append(f"Probed {len(chosen)} of {len(candidates)} tables (the largest; two connections each, "
                     f"{free} free on the server): {', '.join(sorted(set(candidates) - set(chosen)))} not probed.")
        candidates = sorted(chosen)
    if named and len(named) < len(tables):
        notes.append("Tables the revision files do not name are not probed: "
                     f"{', '.join(t for t in tables if t not in named)}.")
    return candidates


def _queued_warning(row: MeasuredRow) -> str:
    """What the lock queue behind a --blocker session cost, in one sentence."""
    blocker = row.blocker
    assert blocker is not None
    if blocker.error and blocker.held_ms is None:
        return (f"{row.revision}: `{_short(row.sql)}`: the blocking session could not hold "
                f"{', '.join(blocker.tables)} ({blocker.error}); it ran unblocked.")
    timeout = f"lock_timeout {blocker.lock_timeout_ms} ms" if blocker.lock_timeout_ms else "no lock_timeout"
    held = f" for {blocker.held_ms:.0f} ms" if blocker.held_ms is not None else ""
    waits = ", ".join(f"{wait:.0f} ms" for wait in blocker.lock_waits_ms)
    tries = (f"each of its {blocker.attempts} attempts gave up (after {waits}), so migrate would stop here"
             if blocker.gave_up
             else f"{len(blocker.lock_waits_ms)} attempt(s) gave up after {waits}, then it ran"
             if blocker.lock_waits_ms else f"it ran at its first attempt, in {row.duration_ms:.0f} ms (waiting "
             "included)")
    writes = f"{row.writer_stall_ms.max:.0f} ms" if row.writer_stall_ms.max is not None else "not measured"
    reads = f"{row.reader_stall_ms.max:.0f} ms" if row.reader_stall_ms.max is not None else "not measured"
    return (f"{row.revision}: `{_short(row.sql)}` behind a session holding {', '.join(blocker.tables)}{held} "
            f"({timeout}): {tries}; meanwhile writes waited up to {writes}, reads up to {reads}.")


def _gave_up(exc: MigrationFailed, failed: list[tuple[float, float]], samples: list[Sample],
             policy: _Policy) -> MeasuredRow:
    """The statement every attempt of which hit lock_timeout: production's migrate would stop there (exit 3)."""
    sent = [statement for statement in exc.statements if MARK not in statement.sql]
    sql = " ".join(sent[-1].sql.split()) if sent else "(the statement that waited)"
    blocker = BlockerReport(named_in(sql), None, len(failed), [round((end - start) * 1000, 1) for start, end in failed],
                            policy.lock_timeout_ms, gave_up=True)
    windows = [(start, end) for start, end in failed]
    per_kind: dict[ProbeKind, dict[str, list[float]]] = {"writer": {}, "reader": {}}
    for sample in samples:
        if any(sample.started <= end and sample.ended >= start for start, end in windows):
            per_kind[sample.kind].setdefault(sample.table, []).append(sample.latency_ms)
    return MeasuredRow(
        revision=exc.revision or "", sql=sql, locks=[], locks_sampled=False, holding=None, held_ms=None,
        duration_ms=round(sum((end - start) * 1000 for start, end in failed), 1), wal_bytes=None, rewrite=False,
        rewritten=[], writer_stall_ms=Stall.of(per_kind["writer"]), reader_stall_ms=Stall.of(per_kind["reader"]),
        in_transaction=True, blocker=blocker,
        exceeded=[f"hit lock_timeout ({policy.lock_timeout_ms} ms) at each of {len(failed)} attempts: "
                  "`safemigrate migrate` would stop here (exit 3) with the revisions before it applied"],
    )


def _row(statement: MeasuredStatement, writer: Stall, reader: Stall, budgets: Budgets,
         seen: list[LockSeen], policy: _Policy | None = None) -> MeasuredRow:
    exceeded: list[str] = []
    if budgets.max_writer_stall_ms is not None and (writer.max or 0) > budgets.max_writer_stall_ms:
        exceeded.append(f"stalled writes for {writer.max:.0f} ms (budget {budgets.max_writer_stall_ms} ms)")
    if budgets.max_reader_stall_ms is not None and (reader.max or 0) > budgets.max_reader_stall_ms:
        exceeded.append(f"stalled reads for {reader.max:.0f} ms (budget {budgets.max_reader_stall_ms} ms)")
    if budgets.max_duration_ms is not None and statement.duration_ms > budgets.max_duration_ms:
        exceeded.append(f"ran for {statement.duration_ms:.0f} ms (budget {budgets.max_duration_ms} ms)")
    held = (statement.released - statement.started) * 1000 if statement.released is not None else None
    return MeasuredRow(
        revision=statement.revision, sql=statement.sql,
        locks=[Lock.of(lock) for lock in (statement.locks if statement.in_transaction else _sampled(statement, seen))],
        locks_sampled=not statement.in_transaction,
        holding=[Lock.of(lock) for lock in statement.holding] if statement.in_transaction else None,
        held_ms=round(held, 1) if held is not None else None, duration_ms=round(statement.duration_ms, 1),
        wal_bytes=statement.wal_bytes,
        rewrite=bool(statement.rewritten), rewritten=statement.rewritten, writer_stall_ms=writer,
        reader_stall_ms=reader, in_transaction=statement.in_transaction, exceeded=exceeded,
        blocker=_blocker_report(statement, policy),
    )


def _blocker_report(statement: MeasuredStatement, policy: _Policy | None) -> BlockerReport | None:
    held = statement.blocker
    if held is None or policy is None:
        return None
    return BlockerReport(held.tables, round(held.held_ms, 1) if held.held_ms is not None else None,
                         len(held.attempts) or 1, [round((end - start) * 1000, 1) for start, end, _ in held.failures],
                         policy.lock_timeout_ms, error=held.error)


def _sampled(statement: MeasuredStatement, seen: list[LockSeen]) -> list[LockTaken]:
    """The table locks the sampler saw the statement's backend hold while it ran (it ran outside a transaction)."""
    found = {(lock.relation, lock.mode) for lock in seen
             if lock.pid == statement.backend_pid and statement.started <= lock.at <= statement.ended}
    return [LockTaken(relation, mode) for relation, mode in sorted(found)]


def _short(sql: str, limit: int = 80) -> str:
    return sql if len(sql) <= limit else sql[:limit - 3] + "..."
