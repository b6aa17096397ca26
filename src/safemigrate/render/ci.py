"""Formatting of the CI reports: Markdown (job summary), terminal text, GitHub annotations.

Nothing here computes a verdict: it formats :class:`CICheckReport` and
:class:`AutofixReport`. Paths are relative to the repository's top folder,
which is what GitHub expects in annotations.
"""

from __future__ import annotations

from rich.console import Console
from rich.panel import Panel
from rich.syntax import Syntax
from rich.text import Text

from safemigrate.ci.autofix import AutofixReport
from safemigrate.ci.check import CICheckReport, summary_counts
from safemigrate.core.errors import SafemigrateError
from safemigrate.core.results import Difference, RevisionRun
from safemigrate.render.escape import cell, code, command_data, command_property, fence, html, prose
from safemigrate.render.rehearsal import rehearsal as rehearsal_text
from safemigrate.render.rehearsal import rehearsal_markdown
from safemigrate.render.text import revision_panel

_OK, _FAIL, _WARN = ":white_check_mark:", ":x:", ":warning:"


# -- Markdown -----------------------------------------------------------------
def check_markdown(report: CICheckReport) -> str:
    counts = summary_counts(report)
    verdict = f"{_OK} migrations ready to merge" if report.ok else f"{_FAIL} migrations need attention"
    out = [f"## safemigrate ci check: {verdict}", "",
           f"Compared with {code(report.base)} ({report.base_commit[:12]}): this branch adds "
           f"**{counts['new']}** revision(s); head {code(', '.join(report.heads))}; "
           f"SQL for **{report.review.dialect if report.review else report.check.dialect}**.", "",
           "| | Check | Result |", "|---|---|---|"]
    for ok, name, result in _checks(report):
        out.append(f"| {_OK if ok is True else _FAIL if ok is False else ':heavy_minus_sign:'} | {name} | {result} |")
    out.append("")
    if report.new_revisions:
        out += ["### Revisions this branch adds", "", "| Revision | Parent | File | Message |", "|---|---|---|---|"]
        out += [f"| {code(r.revision)} | {code(', '.join(r.down_revision) or 'base')} | {code(r.path)} | "
                f"{cell(r.message)} |"
                for r in report.new_revisions]
        out.append("")
    problems = [(p.code, p.message, p.fix) for p in report.problems] + \
        [(p.code, p.message, p.fix) for p in report.check.problems]
    if problems:
        out += ["### Problems", ""]
        out += [f"- {_FAIL} **{kind.replace('_', ' ')}**: {prose(message)}  \n  _Fix_: {prose(fix)}"
                for kind, message, fix in problems]
        out.append("")
    out += _differences(report.check.differences, report.check.dialect)
    if report.review and report.review.revisions:
        paths = {r.revision: r.path for r in report.new_revisions}
        out += [f"### SQL of each new revision ({report.review.dialect}, {report.review.mode})", ""]
        for run in report.review.revisions:
            out += _revision_sql(run, paths.get(run.revision.revision, run.revision.path or ""))
    if report.lint and report.lint.findings:
        out += _findings(report)
    if report.round_trip:
        broken = [t for t in report.round_trip.revisions if not t.ok]
        if broken:
            out += ["### Broken downgrades", ""]
            for t in broken:
                out.append(f"- {_FAIL} {code(t.revision)} fails at **{t.stage}**: {prose(t.message)}")
                out += [f"  - {d}" for d in t.differences]
            out.append("")
    if report.rehearsal:
        out += [rehearsal_markdown(report.rehearsal)]
    notes = report.notes + report.check.notes + (report.review.notes if report.review else []) + \
        (report.lint.notes if report.lint else [])
    out += [f"> {n}" for n in notes]
    return "\n".join(out).rstrip() + "\n"


def _checks(report: CICheckReport) -> list[tuple[bool | None, str, str]]:
    counts = summary_counts(report)
    heads_ok = len(report.heads) == 1 and not any(p.code in {"not_attached", "behind_base"} for p in report.problems)
    rows: list[tuple[bool | None, str, str]] = [
        (heads_ok, "One head that follows the base",
         code(report.heads[0]) if heads_ok else f"{len(report.heads)} head(s); base head "
         f"{code(', '.join(report.base_heads) or '(none)')}"),
        (not report.check.differences, "Models match the migrations",
         "yes" if not report.check.differences else f"{counts['differences']} difference(s) without a migration"),
    ]
    merged = [p for p in report.problems if p.code in {"edited_revision", "deleted_revision"}]
    rows.append((not merged, "Merged revisions unchanged",
                 "yes" if not merged else ", ".join(code(p.path) for p in merged)))
    if report.lint is None:
        rows.append((None, "Lint", "no new revision"))
    else:
        rows.append((report.lint.ok, "Lint", f"{counts['blocking']} blocking, {counts['warnings']} warning(s)"))
    if report.round_trip is None:
        rows.append((None, "Upgrade / downgrade / upgrade", "skipped" if report.new_revisions else "no new revision"))
    else:
        failures = counts["round_trip_failures"]
        rows.append((report.round_trip.ok, "Upgrade / downgrade / upgrade",
                     f"{len(report.round_trip.revisions)} revision(s) round-tripped"
                     + (f", {failures} broken" if failures else "")))
    if report.rehearsal is not None:
        rows.append((report.rehearsal.ok, "Rehearsal",
                     f"{len(report.rehearsal.statements)} statement(s) on a {report.rehearsal.copy.method} copy"
                     + (f", {counts['over_budget']} over budget" if counts["over_budget"] else ", within budget")))
    return rows


def _differences(diffs: list[Difference], dialect: str) -> list[str]:
    if not diffs:
        return []
    out = [f"### The models have changes no migration makes ({len(diffs)})", "",
           "| # | Difference | Table |", "|---|---|---|"]
    out += [f"| {i} | {cell(d.description)} | {code(d.table)} |" for i, d in enumerate(diffs, 1)]
    out += ["", f"Missing DDL ({dialect}):", ""]
    out += fence([s if s.rstrip().endswith(";") or s.startswith("--") else s + ";" for d in diffs for s in d.sql],
                 "sql")
    out += ["", "<details><summary>As Alembic operations (for a new revision)</summary>", ""]
    out += fence([d.code for d in diffs if d.code], "python")
    out += ["", "</details>", ""]
    return out


def _revision_sql(run: RevisionRun, path: str) -> list[str]:
    info = run.revision
    body = run.sent
    out = [f"<details><summary><code>{info.revision}</code> {html(info.message)} "
           f"({len(body)} statement(s), <code>{html(path)}</code>)</summary>", ""]
    sql: list[str] = []
    for s in body:
        sql.append(s.sql if s.sql.rstrip().endswith(";") else s.sql + ";")
        if s.parameters:
            sql.append(f"-- parameters: {' '.join(s.parameters.split())}")
    if not body:
        sql.append("-- no statements")
    out += fence(sql, "sql") + ["", "</details>", ""]
    return out


def _findings(report: CICheckReport) -> list[str]:
    assert report.lint is not None
    out = ["### Lint findings", "", "| | Rule | Where | Finding |", "|---|---|---|---|"]
    for f in report.lint.findings:
        icon = ":heavy_check_mark:" if f.signed_off else (_FAIL if f.severity.value == "error" else _WARN)
        where = code(f"{f.path}:{f.line}") if f.path and f.line else code(f.path)
        note = f" _(signed off: {cell(f.signed_off)})_" if f.signed_off else ""
        out.append(f"| {icon} | {code(f.rule)} | {where} | {cell(f.message)} {cell(f.help)}{note} |")
    out.append("")
    for f in report.lint.findings:
        if f.fix and not f.signed_off:
            out += [f"<details><summary><code>{f.rule}</code> in <code>{f.revision}</code>: safe alternative"
                    "</summary>", ""] + fence(f.fix.splitlines(), "python") + ["", "</details>", ""]
    return out


def autofix_markdown(report: AutofixReport) -> str:
    verdict = _OK if report.ok else _FAIL
    out = [f"## safemigrate ci autofix: {verdict} {report.outcome}", "", report.message, ""]
    if report.fix:
        out += [f"_What to do_: {report.fix}", ""]
    if report.differences:
        out += ["| # | Model change | Table |", "|---|---|---|"]
        out += [f"| {i} | {cell(d.description)} | {code(d.table)} |" for i, d in enumerate(report.differences, 1)]
        out.append("")
    for w in report.withheld:
        out += [f"- {_FAIL} {prose(w.finding.message)}", ""] + fence(w.code.splitlines(), "python") + [""]
    if report.review:
        paths = dict(zip([report.revision], report.generated, strict=False))
        for run in report.review.revisions:
            out += _revision_sql(run, paths.get(run.revision.revision, run.revision.path or ""))
    if report.lint and report.lint.blocking:
        out += [f"- {_FAIL} {code(f.rule)} {prose(f.message)} {prose(f.help)}" for f in report.lint.blocking]
        out.append("")
    out += [f"> {n}" for n in report.notes]
    return "\n".join(out).rstrip() + "\n"


def error_markdown(command: str, exc: SafemigrateError) -> str:
    out = [f"## safemigrate {command}: {_FAIL} {exc.title} (exit {exc.exit_code})", "", exc.what, ""]
    if exc.why:
        out += [f"_Why_: {exc.why}", ""]
    if exc.fix:
        out += [f"_What to do_: {exc.fix}", ""]
    if exc.details:
        out += fence(exc.details.splitlines()) + [""]
    return "\n".join(out)




# -- GitHub annotations ------------------------------------------------------------
def check_annotations(report: CICheckReport) -> str:
    """``::error``/``::warning`` workflow commands, placed on files and lines where possible."""
    lines: list[str] = []
    for p in report.problems:
        lines.append(_command("error", f"safemigrate {p.code}", f"{p.message} Fix: {p.fix}", p.path, p.line))
    for p in report.check.problems:
        lines.append(_command("error", f"safemigrate {p.code}", f"{p.message} Fix: {p.fix}"))
    for d in report.check.differences:
        lines.append(_command("error", "safemigrate drift",
                              f"{d.description}. No migration makes this change; missing DDL: {'; '.join(d.sql)}"))
    if report.lint:
        for f in report.lint.findings:
            if f.signed_off:
                continue
            lines.append(_command(f.severity.value, f"safemigrate {f.rule}", f"{f.message} {f.help}", f.path, f.line))
    if report.round_trip:
        paths = {r.revision: r.path for r in report.new_revisions}
        for t in report.round_trip.revisions:
            if not t.ok:
                lines.append(_command("error", "safemigrate downgrade",
                                      f"Revision {t.revision} fails at {t.stage}: {t.message} "
                                      + "; ".join(t.differences), paths.get(t.revision)))
    return "".join(line + "\n" for line in lines)


def autofix_annotations(report: AutofixReport) -> str:
    if report.ok:
        return ""
    return _command("error", f"safemigrate autofix {report.outcome}", f"{report.message} {report.fix}") + "\n"


def error_annotation(command: str, exc: SafemigrateError) -> str:
    path = getattr(exc, "path", None)
    return _command("error", f"safemigrate {command}: {exc.title}", f"{exc.what} {exc.fix}".strip(),
                    path if path and not path.startswith("/") else None, getattr(exc, "line", None)) + "\n"


def _command(level: str, title: str, message: str, path: str | None = None, line: int | None = None) -> str:
    props = []
    if path:
        props.append(f"file={command_property(path)}")
        if line:
            props.append(f"line={line}")
    props.append(f"title={command_property(title)}")
    return f"::{level} {','.join(props)}::{command_data(message)}"




# -- terminal ------------------------------------------------------------------
def check_text(console: Console, report: CICheckReport) -> None:
    counts = summary_counts(report)
    console.print(Text.assemble(("safemigrate ci check", "bold"),
                                f" — against {report.base} ({report.base_commit[:12]}): {counts['new']} new "
                                f"revision(s), head {', '.join(report.heads)}"))
    for ok, name, result in _checks(report):
        mark, style = ("✓", "green") if ok is True else ("✗", "bold red") if ok is False else ("-", "dim")
        console.print(Text.assemble((f"  {mark} ", style), (name, "bold"), f": {result.replace('`', '')}"))
    for p in [*report.problems, *report.check.problems]:
        where = f" ({p.path}:{p.line})" if getattr(p, "path", None) and getattr(p, "line", None) else ""
        console.print(Text.assemble(("✗ ", "bold red"), (p.code.replace("_", " "), "bold"), f"{where}: ", p.message))
        console.print(Text.assemble("  fix: ", (p.fix, "cyan")))
    if report.check.differences:
        console.print(Text(f"The models have changes no migration makes ({len(report.check.differences)}):",
                           style="bold yellow"))
        for d in report.check.differences:
            console.print(Text(f"  - {d.description}", style="yellow"))
        sql = "\n".join(s if s.rstrip().endswith(";") else s + ";" for d in report.check.differences for s in d.sql)
        console.print(Panel(Syntax(sql, "sql", word_wrap=True), title=Text(f"missing DDL ({report.check.dialect})"),
                            title_align="left", border_style="dim"))
    if report.review:
        paths = {r.revision: r.path for r in report.new_revisions}
        for run in report.review.revisions:
            body = run.sent
            sql = "\n".join(s.sql if s.sql.rstrip().endswith(";") else s.sql + ";" for s in body)
            console.print(Panel(Syntax(sql or "-- no statements", "sql", word_wrap=True),
                                title=Text(f"{run.revision.revision} {run.revision.message} "
                                           f"({paths.get(run.revision.revision, '')})"),
                                title_align="left", border_style="cyan"))
    if report.lint:
        for f in report.lint.findings:
            if f.signed_off:
                continue
            style = "bold red" if f.severity.value == "error" else "yellow"
            console.print(Text.assemble((f"{f.severity.value} ", style), (f.rule, "bold"),
                                        f"  {f.path}:{f.line}  {f.message}"))
            console.print(Text(f"  instead: {f.help}", style="cyan"))
    if report.round_trip:
        for t in report.round_trip.revisions:
            if not t.ok:
                console.print(Text(f"✗ downgrade of {t.revision} fails at {t.stage}: {t.message}", style="bold red"))
    if report.rehearsal:
        rehearsal_text(console, report.rehearsal)
    notes = report.notes + report.check.notes + (report.review.notes if report.review else []) + \
        (report.lint.notes if report.lint else [])
    for note in notes:
        console.print(Text(f"note: {note}", style="dim"))
    console.print(Text("✓ migrations ready to merge" if report.ok else "✗ migrations need attention",
                       style="bold green" if report.ok else "bold red"))


def autofix_text(console: Console, report: AutofixReport) -> None:
    style = "bold green" if report.ok else "bold red"
    console.print(Text.assemble(("safemigrate ci autofix", "bold"), ": ", (report.outcome, style)))
    console.print(Text(report.message))
    for d in report.differences:
        console.print(Text(f"  - {d.description}", style="yellow"))
    for w in report.withheld:
        console.print(Text(f"  withheld: {w.finding.message}", style="bold red"))
        console.print(Text(f"      {w.code}", style="dim"))
    if report.lint:
        for f in report.lint.blocking:
            console.print(Text(f"  {f.rule}: {f.message} Instead: {f.help}", style="bold red"))
    if report.review:
        for run in report.review.revisions:
            console.print(revision_panel(run))
    for note in report.notes:
        console.print(Text(f"note: {note}", style="dim"))
    if report.fix:
        console.print(Text.assemble(("what to do: ", "dim"), (report.fix, "cyan")))
