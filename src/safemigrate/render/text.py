"""Terminal output with rich."""

from __future__ import annotations

import os
from typing import TextIO

from rich.console import Console, Group
from rich.panel import Panel
from rich.syntax import Syntax
from rich.table import Table
from rich.text import Text

from safemigrate.core.errors import SafemigrateError
from safemigrate.core.results import (
    CheckReport,
    Difference,
    InitReport,
    LiveReport,
    Problem,
    ReviewReport,
    RevisionRun,
    StatusReport,
)


def console(stream: TextIO) -> Console:
    """A console for ``stream``: colours only on a terminal, and never with NO_COLOR set.

    rich already leaves out every escape sequence when the stream is not a terminal (a pipe, a file, CI
    logs) and reads NO_COLOR; both are stated here so that nobody turns them on by passing
    ``force_terminal``. Off a terminal the width is $COLUMNS (default 120), not rich's 80.
    """
    width = None if stream.isatty() else int(os.environ.get("COLUMNS", "120"))
    return Console(file=stream, width=width, soft_wrap=False, highlight=False, markup=False,
                   no_color=bool(os.environ.get("NO_COLOR")) or None)


def revision_panel(run: RevisionRun, *, title: str | None = None, parameters: bool = False) -> Panel:
    """The SQL a revision sent, in a titled panel."""
    parts = [(s.sql if s.sql.rstrip().endswith(";") or s.sql.startswith("--") else s.sql + ";")
             + (f"\n-- parameters: {s.parameters}" if parameters and s.parameters else "") for s in run.sent]
    sql = ("\n\n" if parameters else "\n").join(parts)
    return Panel(Syntax(sql or "-- no statements", "sql", word_wrap=True),
                 title=Text(title or f"{run.revision.revision} {run.revision.message}"), title_align="left",
                 border_style="cyan")


def _problems(console: Console, problems: list[Problem]) -> None:
    for p in problems:
        console.print(Text.assemble(("✗ ", "bold red"), (p.code.replace("_", " "), "bold"), ": ", p.message))
        console.print(Text.assemble("  fix: ", (p.fix, "cyan")))


def _differences(console: Console, title: str, diffs: list[Difference], dialect: str) -> None:
    if not diffs:
        return
    console.print(Text(f"{title} ({len(diffs)}):", style="bold yellow"))
    for i, d in enumerate(diffs, 1):
        console.print(Text.assemble(f"  {i}. ", (d.description, "yellow")))
    sql = "\n".join(s if s.rstrip().endswith(";") or s.startswith("--") else s + ";" for d in diffs for s in d.sql)
    console.print(Panel(Syntax(sql, "sql", word_wrap=True), title=Text(f"DDL that fixes it ({dialect})"),
                        title_align="left", border_style="dim"))
    console.print(Panel(Syntax("\n".join(d.code for d in diffs), "python", word_wrap=True),
                        title="as Alembic operations", title_align="left", border_style="dim"))


def _notes(console: Console, notes: list[str]) -> None:
    for note in notes:
        console.print(Text(f"note: {note}", style="dim"))


def check(console: Console, report: CheckReport) -> None:
    console.print(Text.assemble(
        ("safemigrate check", "bold"), f" — {report.revisions_applied} revision(s) applied to a {report.scratch}, "
        f"head {', '.join(report.heads)}, DDL for {report.dialect} ({report.duration_ms / 1000:.2f}s)"))
    _problems(console, report.problems)
    _differences(console, "The models have changes no migration makes", report.differences, report.dialect)
    _notes(console, report.notes)
    if report.ok:
        console.print(Text("✓ models and migrations agree", style="bold green"))
    else:
        console.print(Text("✗ models and migrations differ", style="bold red"))


def live(console: Console, report: LiveReport) -> None:
    console.print(Text.assemble(
        ("safemigrate check --live", "bold"),
        f" — {report.database} at {', '.join(report.database_heads) or '(no revision)'}, "
        f"code head {', '.join(report.code_heads)}"))
    _problems(console, report.problems)
    _differences(console, "Out-of-band changes (the database differs from its revision)",
                 report.out_of_band, report.dialect)
    _differences(console, "The database differs from the models", report.versus_models, report.dialect)
    _notes(console, report.notes)
    console.print(Text("✓ live database in sync" if report.ok else "✗ live database not in sync",
                       style="bold green" if report.ok else "bold red"))


def status(console: Console, report: StatusReport) -> None:
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold")
    table.add_column()
    table.add_row("environment", report.environment)
    table.add_row("database", f"{report.database} (from {report.database_source})" if report.database
                  else "(not configured)")
    table.add_row("database revision", ", ".join(report.database_heads or []) or "(none)")
    table.add_row("code head(s)", ", ".join(report.code_heads))
    table.add_row("pending", ", ".join(report.pending) if report.pending else "none")
    table.add_row("drift", Text(report.drift, style="green" if report.ok else "yellow"))
    console.print(Panel(table, title="safemigrate status", title_align="left"))
    _problems(console, report.problems)


def review(console: Console, report: ReviewReport) -> None:
    console.print(Text.assemble(("safemigrate review", "bold"),
                                f" — {len(report.revisions)} revision(s), {report.range}, {report.dialect}"))
    for run in report.revisions:
        info = run.revision
        console.print(revision_panel(run, title=f"{info.revision} {info.message} ({info.path})", parameters=True))
    _notes(console, report.notes)


def init(console: Console, report: InitReport) -> None:
    what = "Adopted the existing Alembic setup" if report.adopted else "Scaffolded a new Alembic setup"
    console.print(Text(f"{what} at {report.script_location}", style="bold green"))
    for path in report.written:
        console.print(f"  wrote {path}")
    if report.snippet:
        console.print(Text("Your env.py was left as it is. To let safemigrate manage it, replace its body with:",
                           style="bold"))
        console.print(Syntax(report.snippet, "python"))
    _notes(console, report.notes)


def error(console: Console, exc: SafemigrateError) -> None:
    parts: list[Text] = [Text(exc.what, style="bold")]
    if exc.why:
        parts.append(Text.assemble(("why: ", "dim"), exc.why))
    if exc.fix:
        parts.append(Text.assemble(("what to do: ", "dim"), (exc.fix, "cyan")))
    if exc.details:
        parts.append(Text(exc.details, style="dim"))
    console.print(Panel(Group(*parts), title=f"{exc.title} (exit {exc.exit_code})",
                        title_align="left", border_style="red"))


def lint(console: Console, report) -> None:  # LintReport
    version = f" {report.pg_version}" if report.dialect == "postgresql" else ""
    console.print(Text.assemble(("safemigrate lint", "bold"),
                                f" — {len(report.revisions)} revision(s), {report.dialect}{version}, "
                                f"SQL {report.mode}"))
    for f in report.findings:
        style = "green" if f.signed_off else ("bold red" if f.severity.value == "error" else "yellow")
        where = f"{f.path}:{f.line}" if f.path and f.line else (f.path or "")
        console.print(Text.assemble((f"{f.severity.value} ", style), (f.rule, "bold"), f"  {f.revision}  {where}"))
        console.print(Text(f"  {f.message}"))
        if f.statement:
            console.print(Text(f"  statement: {f.statement.splitlines()[0][:160]}", style="dim"))
        if f.signed_off:
            console.print(Text(f"  signed off: {f.signed_off}", style="green"))
        else:
            console.print(Text(f"  instead: {f.help}", style="cyan"))
            if f.fix:
                console.print(Syntax(f.fix, "python", word_wrap=True, padding=(0, 4)))
    _notes(console, report.notes)
    blocking = len(report.blocking)
    console.print(Text("✓ no blocking findings" if not blocking else f"✗ {blocking} blocking finding(s)",
                       style="bold green" if not blocking else "bold red"))


def migrate(console: Console, report) -> None:  # MigrateReport
    console.print(Text.assemble(("safemigrate migrate", "bold"),
                                f" — {report.database}, environment {report.environment}, {report.mode}"
                                + (f", up to {report.target}" if report.target else "")
                                + (f", phase {report.phase}" if getattr(report, "phase", None) else "")
                                + (", dry run" if report.dry_run else "")))
    for check in report.checks:
        mark, style = ("✓", "green") if check.ok else ("✗", "bold red")
        console.print(Text.assemble((f"  {mark} ", style), (check.name, "bold"), f": {check.message}"))
        if not check.ok and check.fix:
            console.print(Text(f"      what to do: {check.fix}", style="cyan"))
    if report.plan:
        console.print(Text(f"plan: {len(report.plan)} revision(s): {', '.join(report.plan)}"))
    for run in report.ddl:
        console.print(revision_panel(run))
    if report.backup:
        console.print(Text(f"verified backup taken before the first revision: {report.backup} "
                           "(`safemigrate backup list` shows it)", style="green"))
    for path in report.generated:
        console.print(Text(f"generated {path}", style="bold green"))
    for applied in report.applied:
        console.print(Text(f"  applied {applied.revision} {applied.message} ({applied.statements} statement(s), "
                           f"{applied.duration_ms:.0f} ms" + (f", {applied.attempts} attempts" if applied.attempts > 1
                                                               else "") + ")", style="green"))
    for item in report.withheld:
        console.print(Text(f"  withheld: {item}", style="yellow"))
    for item in report.remaining_differences:
        console.print(Text(f"  still differs from the models: {item}", style="yellow"))
    _notes(console, report.notes)
    if report.verified:
        console.print(Text("✓ the database is at head and matches the models", style="bold green"))
    elif not report.ok:
        failed = [c for c in report.checks if not c.ok]
        console.print(Text(f"✗ {len(failed)} preflight check(s) failed: nothing was changed" if failed else
                           "✗ the database does not match the models yet: see above", style="bold red"))


def round_trips(console: Console, report) -> None:  # DowngradeReport
    console.print(Text.assemble(("safemigrate verify-downgrade", "bold"), f" — {report.scratch}"))
    for item in report.revisions:
        if item.ok:
            console.print(Text(f"  ✓ {item.revision} upgrade, downgrade, upgrade", style="green"))
            continue
        console.print(Text(f"  ✗ {item.revision} {item.stage}: {item.message}", style="bold red"))
        for diff in item.differences:
            console.print(Text(f"      {diff}", style="yellow"))
    console.print(Text("✓ every downgrade restores its schema" if report.ok else "✗ some downgrades are broken",
                       style="bold green" if report.ok else "bold red"))


def downgraded(console: Console, result) -> None:  # DowngradeResult
    console.print(Text.assemble(("safemigrate downgrade", "bold"), f" to {result.target} — {result.database}, "
                                f"environment {result.environment}" + (", dry run" if result.dry_run else "")))
    console.print(Text(f"from {', '.join(result.heads_before)}; the SQL, rehearsed on a throwaway database:"))
    for run in result.rehearsal:
        console.print(revision_panel(run, title=f"undo {run.revision.revision} {run.revision.message}"))
    if result.backup:
        console.print(Text(f"verified backup taken first: {result.backup}", style="green"))
    _notes(console, result.notes)
    if result.dry_run:
        console.print(Text(f"dry run: would undo {', '.join(result.revisions) or 'nothing'}; nothing was changed",
                           style="bold"))
    else:
        console.print(Text(f"✓ undone: {', '.join(result.revisions) or 'nothing'}", style="bold green"))


def ledger_changed(console: Console, result) -> None:  # LedgerChange
    console.print(Text(result.describe(), style="bold green"))


def _ledger_warnings(console: Console, problems: list[str], interrupted: list[str]) -> None:
    for problem in problems:
        console.print(Text.assemble(("✗ ledger tampered with: ", "bold red"), problem))
    if problems:
        console.print(Text("  what to do: find out who changed it; `safemigrate ledger reseal --reason ...` "
                           "records a deliberate change", style="cyan"))
    for attempt in interrupted:
        console.print(Text(f"interrupted: {attempt}", style="yellow"))


def _entries_table(entries: list) -> Table:  # list[ledger.Entry]
    table = Table(box=None, padding=(0, 1), show_edge=False, header_style="bold")
    for column in ("#", "when (UTC)", "revision", "action", "environment", "by", "backup", "note"):
        table.add_column(column, overflow="fold")
    for e in entries:
        table.add_row(str(e.id), e.applied_at.replace("T", " ").removesuffix("+00:00"), e.revision or "-",
                      e.action, e.environment, e.applied_by, e.backup_id or "", (e.note or "")[:80])
    return table


def ledger_list(console: Console, report) -> None:  # LedgerListing
    what = f"the newest {len(report.entries)} row(s)" if report.limited else f"{len(report.entries)} row(s)"
    console.print(Text.assemble(("safemigrate ledger list", "bold"), f" — {report.database}, {what}"))
    if report.entries:
        console.print(_entries_table(report.entries))
    else:
        console.print(Text("the ledger is empty: safemigrate has not applied or recorded a revision here yet",
                           style="dim"))
    _ledger_warnings(console, report.problems, report.interrupted)


def ledger_show(console: Console, report) -> None:  # LedgerRevision
    title = f"{report.revision} {report.message}" if report.message else report.revision
    console.print(Text.assemble(("safemigrate ledger show", "bold"), f" {title} — {report.database}"))
    console.print(f"file: {report.path or '(not in the code any more)'}")
    state = "applied" if report.applied else ("not applied (downgraded)" if report.entries else "not applied")
    console.print(f"state: {state}")
    if report.recorded_checksum:
        console.print(f"recorded checksum: {report.recorded_checksum}")
    if report.file_checksum:
        if report.file_changed:
            console.print(Text(f"file checksum now: {report.file_checksum} — the file changed after it was "
                               "applied (`safemigrate ledger accept` records a deliberate change)", style="yellow"))
        else:
            console.print(f"file checksum now: {report.file_checksum}"
                          + (" (unchanged)" if report.recorded_checksum else ""))
    if report.entries:
        console.print(_entries_table(report.entries))
    else:
        console.print(Text("no ledger rows for this revision", style="dim"))
    _ledger_warnings(console, report.problems, report.interrupted)
