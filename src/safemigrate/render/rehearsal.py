"""Terminal (rich) and Markdown renderings of a rehearsal; they only format.

The Markdown follows GitLab's migration-testing comment: the verdict and the warnings first, the table of
statements after, the copy and the probes last.
"""

from __future__ import annotations

from rich.console import Console
from rich.table import Table
from rich.text import Text

from safemigrate.rehearsal.results import Lock, MeasuredRow, RehearsalReport
from safemigrate.rehearsal.stalls import Stall
from safemigrate.render.escape import cell, code, prose


def _ms(value: float | None) -> str:
    if value is None:
        return "-"
    if value >= 10_000:
        return f"{value / 1000:.1f} s"
    return f"{value:.0f} ms" if value >= 10 else f"{value:.1f} ms"


def _stall(stall: Stall) -> str:
    if stall.max is None:
        return "-"
    where = f" ({stall.table})" if stall.table and stall.max >= 50 else ""
    return f"{_ms(stall.max)} / {_ms(stall.p99)}{where}"


#: PostgreSQL's table lock modes, weakest first (its own numbering): a table shows its strongest.
_STRENGTH = ("ACCESS SHARE", "ROW SHARE", "ROW EXCLUSIVE", "SHARE UPDATE EXCLUSIVE", "SHARE", "SHARE ROW EXCLUSIVE",
             "EXCLUSIVE", "ACCESS EXCLUSIVE")


def _strongest(locks: list[Lock]) -> str:
    best: dict[str, str] = {}
    for lock in locks:
        held = best.get(lock.relation)
        rank = _STRENGTH.index(lock.mode) if lock.mode in _STRENGTH else -1
        if held is None or rank > (_STRENGTH.index(held) if held in _STRENGTH else -1):
            best[lock.relation] = lock.mode
    return ", ".join(f"{mode} {relation}" for relation, mode in best.items())


def _locks(row: MeasuredRow) -> str:
    if row.locks_sampled:
        return f"{_strongest(row.locks) or 'none seen'} (sampled: outside a transaction)"
    if not row.locks and row.holding:
        return "none new; holds " + _strongest(row.holding)
    return _strongest(row.locks) or "none on existing tables"


def _sql(sql: str, limit: int = 70) -> str:
    return sql if len(sql) <= limit else sql[:limit - 3] + "..."


def _budgets(report: RehearsalReport) -> str:
    b = report.budgets
    parts = [f"writer stall ≤ {b.max_writer_stall_ms} ms" if b.max_writer_stall_ms is not None else "",
             f"reader stall ≤ {b.max_reader_stall_ms} ms" if b.max_reader_stall_ms is not None else "",
             f"duration ≤ {b.max_duration_ms} ms" if b.max_duration_ms is not None else ""]
    return ", ".join(p for p in parts if p) or "none set"


def rehearsal(console: Console, report: RehearsalReport) -> None:
    verdict = ("✓ within budget", "bold green") if report.ok else ("✗ over budget", "bold red")
    console.print(Text.assemble(("safemigrate rehearse", "bold"), " — ", verdict, f" — {len(report.statements)} "
                                f"statement(s) of {len(report.revisions)} revision(s) on the {report.copy.method} "
                                f"copy, budgets: {_budgets(report)}"))
    for warning in report.warnings:
        console.print(Text.assemble(("! ", "bold yellow"), warning))
    if report.statements:
        table = Table(show_lines=False, header_style="bold")
        for name in ("revision", "statement", "locks", "held", "rewrite", "duration", "writer stall max/p99",
                     "reader stall max/p99", "verdict"):
            table.add_column(name, overflow="fold")
        for row in report.statements:
            table.add_row(row.revision, _sql(row.sql), _locks(row), _ms(row.held_ms), "yes" if row.rewrite else "no",
                          _ms(row.duration_ms), _stall(row.writer_stall_ms), _stall(row.reader_stall_ms),
                          Text(row.verdict, style="green" if not row.exceeded else "bold red"))
        console.print(table)
    console.print(Text(f"copy: {report.copy.description}", style="dim"))
    if report.probed_tables:
        console.print(Text(f"probes: a writer and a reader on {', '.join(report.probed_tables)}, every "
                           f"{report.probe_interval_ms:g} ms", style="dim"))
    for fill in report.fill:
        console.print(Text(f"filled {fill.table}: {fill.rows} rows in {fill.seconds:.1f} s", style="dim"))
    for note in report.notes:
        console.print(Text(f"note: {note}", style="dim"))


def rehearsal_markdown(report: RehearsalReport) -> str:
    mark = "✅ within budget" if report.ok else "❌ over budget"
    lines = [f"### safemigrate rehearse: {mark}", "",
             f"{len(report.statements)} statement(s) of {len(report.revisions)} revision(s) on the "
             f"{prose(report.copy.method)} copy; budgets: {_budgets(report)}.", ""]
    if report.warnings:
        lines += ["#### Warnings", ""] + [f"- {prose(w)}" for w in report.warnings] + [""]
    if report.statements:
        lines += ["#### Statements", "",
                  "| revision | statement | locks | held | rewrite | duration | writer stall max/p99 "
                  "| reader stall max/p99 | verdict |",
                  "|---|---|---|---|---|---|---|---|---|"]
        for row in report.statements:
            lines.append(f"| {code(row.revision)} | {code(_sql(row.sql))} | {cell(_locks(row))} | {_ms(row.held_ms)} "
                         f"| {'yes' if row.rewrite else 'no'} | {_ms(row.duration_ms)} | {_stall(row.writer_stall_ms)} "
                         f"| {_stall(row.reader_stall_ms)} | {cell(row.verdict)} |")
        lines.append("")
    details = [f"- copy: {prose(report.copy.description)}"]
    if report.probed_tables:
        details.append(f"- probes: a writer and a reader on {prose(', '.join(report.probed_tables))}, every "
                       f"{report.probe_interval_ms:g} ms")
    details += [f"- filled {prose(f.table)}: {f.rows} rows in {f.seconds:.1f} s" for f in report.fill]
    details += [f"- {prose(note)}" for note in report.notes]
    lines += ["<details><summary>Copy and probes</summary>", "", *details, "", "</details>", ""]
    return "\n".join(lines)
