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
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import text
from sqlalchemy.engine import Connection

from safemigrate.config.rehearsal import Budgets
from safemigrate.core.db import connected
from safemigrate.core.errors import RevisionGraphError
from safemigrate.core.urls import with_driver_of
from safemigrate.harness.measure import LockTaken, MeasuredStatement, MeasureSpec
from safemigrate.harness.requests import EnvRunRequest, Reads
from safemigrate.harness.session import EnvSession
from safemigrate.rehearsal.copies import Copy, CopySource, check_source, copy_for
from safemigrate.rehearsal.probes import LockSeen, Probes
from safemigrate.rehearsal.results import CopyInfo, Lock, MeasuredRow, RehearsalReport
from safemigrate.rehearsal.stalls import Stall, charge
from safemigrate.rehearsal.synthetic import fill, plan_rows, user_tables

if TYPE_CHECKING:
    from safemigrate.harness.workspace import Workspace

__all__ = ["CopySource", "RehearsalReport", "rehearse"]

MAX_PROBED_TABLES = 20  # 41 connections, and probes that still leave the migration most of two cores


def rehearse(project: Workspace, revision_range: str | None = None, *, source: CopySource,
             budgets: Budgets | None = None) -> RehearsalReport:
    """Rehearse the pending revisions (or ``revision_range``) on the copy ``source`` describes."""
    settings = project.settings.rehearsal
    if not (source.template or source.from_url or source.backup or source.synthetic) and settings.rows is not None:
        source = CopySource(rows=settings.rows)
    budgets = budgets or settings.budgets
    origin = check_source(project, source)
    with copy_for(source, origin, project) as copy:
        url = with_driver_of(copy.url, project.database_named or project.scratch_server)
        session = EnvSession(project.settings, url, dialect="postgresql", verbose=project.verbose, throwaway=True)
        try:
            return _rehearse_on(project, session, copy, source, revision_range, budgets)
        finally:
            session.close()


def _rehearse_on(project: Workspace, session: EnvSession, copy: Copy, source: CopySource,
                 revision_range: str | None, budgets: Budgets) -> RehearsalReport:
    history = project.history
    report = RehearsalReport(CopyInfo(source.method, copy.description, copy.throwaway, copy.backup_id), [], budgets)
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
            tables = user_tables(conn, {version_table})
    report.revisions = plan
    with connected(copy.url) as conn:
        probed = probe_targets(conn, tables, _revision_sources(project, plan), report.notes)
    _measure(project, session, copy, plan[-1], probed, report)
    return report


def _measure(project: Workspace, session: EnvSession, copy: Copy, target: str, tables: list[str],
             report: RehearsalReport) -> None:
    probes = Probes(copy.url, tables)
    report.probed_tables = tables
    report.probe_interval_ms = round(probes.interval * 1000, 1)
    request = EnvRunRequest("upgrade", target, measure=MeasureSpec(),
                            purpose=f"rehearse the revisions up to {target} on the copy")
    probes.start()
    started = time.perf_counter()
    try:
        run = session.run(request)
    finally:
        report.total_ms = round((time.perf_counter() - started) * 1000, 1)
        probes.stop()
    report.notes += [f"Probe: {error}" for error in probes.errors]
    measured = run.measured or []
    charged = charge(measured, probes.samples)
    budgets = report.budgets
    for index, statement in enumerate(measured):
        writer = Stall.of(charged[index]["writer"])
        reader = Stall.of(charged[index]["reader"])
        report.statements.append(_row(statement, writer, reader, budgets, probes.locks_seen))
    for row in report.statements:
        if row.rewrite:
            report.warnings.append(f"{row.revision}: `{_short(row.sql)}` rewrote {', '.join(row.rewritten)}: every "
                                   "row was written again, under ACCESS EXCLUSIVE.")
        for reason in row.exceeded:
            report.warnings.append(f"{row.revision}: `{_short(row.sql)}` {reason}.")
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


def probe_targets(conn: Connection, tables: list[str], source: str, notes: list[str]) -> list[str]:
    """The tables to probe: those the revision files name (else all), the largest first, as many as the server's
    free connections allow (two per table) and at most MAX_PROBED_TABLES."""
    named = [t for t in tables if re.search(rf"\b{re.escape(t.split('.')[-1])}\b", source)]
    candidates = named or tables
    free = conn.execute(text("SELECT current_setting('max_connections')::int - count(*) FROM pg_stat_activity")) \
        .scalar() or 0
    room = max(1, min(MAX_PROBED_TABLES, (int(free) - 10) // 2))
    if len(candidates) > room:
        sizes: dict[str, float] = dict(conn.execute(text(
            "SELECT CASE WHEN n.nspname = 'public' THEN c.relname ELSE n.nspname || '.' || c.relname END, "
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


def _row(statement: MeasuredStatement, writer: Stall, reader: Stall, budgets: Budgets,
         seen: list[LockSeen]) -> MeasuredRow:
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
    )


def _sampled(statement: MeasuredStatement, seen: list[LockSeen]) -> list[LockTaken]:
    """The table locks the sampler saw the statement's backend hold while it ran (it ran outside a transaction)."""
    found = {(lock.relation, lock.mode) for lock in seen
             if lock.pid == statement.backend_pid and statement.started <= lock.at <= statement.ended}
    return [LockTaken(relation, mode) for relation, mode in sorted(found)]


def _short(sql: str, limit: int = 80) -> str:
    return sql if len(sql) <= limit else sql[:limit - 3] + "..."
