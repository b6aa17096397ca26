"""Markdown for GitHub job summaries and pull-request comments."""

from __future__ import annotations

from safemigrate.core.results import (
    CheckReport,
    Difference,
    InitReport,
    LiveReport,
    Problem,
    ReviewReport,
    StatusReport,
)


def _problems(problems: list[Problem]) -> list[str]:
    out: list[str] = []
    for p in problems:
        out.append(f"- :x: **{p.code.replace('_', ' ')}**: {p.message}  \n  _Fix_: {p.fix}")
    return out


def _differences(title: str, diffs: list[Difference], dialect: str) -> list[str]:
    if not diffs:
        return []
    out = [f"### {title} ({len(diffs)})", "", "| # | Difference | Table |", "|---|---|---|"]
    for i, d in enumerate(diffs, 1):
        out.append(f"| {i} | {d.description} | `{d.table or ''}` |")
    out += ["", f"<details><summary>DDL that fixes it ({dialect})</summary>", "", "```sql"]
    for d in diffs:
        out.extend(s if s.rstrip().endswith(";") or s.startswith("--") else s + ";" for s in d.sql)
    out += ["```", "", "Alembic operations:", "", "```python"]
    out.extend(d.code for d in diffs)
    out += ["```", "", "</details>", ""]
    return out


def check(report: CheckReport) -> str:
    verdict = ":white_check_mark: models and migrations agree" if report.ok else ":x: models and migrations differ"
    out = [f"## safemigrate check: {verdict}", "",
           f"Throwaway database: {report.scratch}; {report.revisions_applied} revision(s) applied; "
           f"head: `{', '.join(report.heads)}`; DDL rendered for **{report.dialect}**.", ""]
    out += _problems(report.problems)
    out += _differences("Differences: the models have changes no migration makes", report.differences, report.dialect)
    out += [f"> {n}" for n in report.notes]
    return "\n".join(out) + "\n"


def live(report: LiveReport) -> str:
    verdict = ":white_check_mark: in sync" if report.ok else ":x: not in sync"
    out = [f"## safemigrate check --live: {verdict}", "",
           f"Database `{report.database}` at `{', '.join(report.database_heads) or '(none)'}`; "
           f"code head `{', '.join(report.code_heads)}`.", ""]
    out += _problems(report.problems)
    out += _differences("Out-of-band changes: the database differs from its revision", report.out_of_band,
                        report.dialect)
    out += _differences("The database differs from the models", report.versus_models, report.dialect)
    out += [f"> {n}" for n in report.notes]
    return "\n".join(out) + "\n"


def status(report: StatusReport) -> str:
    out = ["## safemigrate status", "", "| | |", "|---|---|",
           f"| Environment | {report.environment} |",
           f"| Database | `{report.database or '(not configured)'}` |",
           f"| Database revision | `{', '.join(report.database_heads or []) or '(none)'}` |",
           f"| Code head(s) | `{', '.join(report.code_heads)}` |",
           f"| Pending | {len(report.pending)} |",
           f"| Drift | {report.drift} |", ""]
    out += _problems(report.problems)
    return "\n".join(out) + "\n"


def review(report: ReviewReport) -> str:
    out = [f"## safemigrate review: {len(report.revisions)} revision(s) ({report.range})", "",
           f"SQL for **{report.dialect}**, {report.mode}.", ""]
    for run in report.revisions:
        info = run.revision
        body = run.sent
        out += [f"<details><summary><code>{info.revision}</code> {info.message} "
                f"({len(body)} statement(s), {info.path})</summary>", "", "```sql"]
        for s in body:
            out.append(s.sql if s.sql.rstrip().endswith(";") else s.sql + ";")
            if s.parameters:
                out.append(f"-- parameters: {s.parameters}")
        out += ["```", "", "</details>", ""]
    out += [f"> {n}" for n in report.notes]
    return "\n".join(out) + "\n"


def init(report: InitReport) -> str:
    out = [f"## safemigrate init: {'adopted' if report.adopted else 'scaffolded'} {report.script_location}", ""]
    out += [f"- wrote `{w}`" for w in report.written]
    if report.snippet:
        out += ["", "Paste into env.py:", "", "```python", report.snippet, "```"]
    return "\n".join(out) + "\n"


def lint(report) -> str:  # LintReport
    blocking = report.blocking
    verdict = ":white_check_mark: no blocking findings" if report.ok else f":x: {len(blocking)} blocking finding(s)"
    out = [f"## safemigrate lint: {verdict}", "",
           f"{len(report.revisions)} revision(s), {report.dialect}"
           + (f" {report.pg_version}" if report.dialect == "postgresql" else "") + f", SQL {report.mode}.", ""]
    if report.findings:
        out += ["| | Rule | Revision | Where | Finding |", "|---|---|---|---|---|"]
        for f in report.findings:
            icon = ":heavy_check_mark:" if f.signed_off else (":x:" if f.severity.value == "error" else ":warning:")
            where = f"`{f.path}:{f.line}`" if f.path and f.line else (f"`{f.path}`" if f.path else "")
            note = f" _(signed off: {f.signed_off})_" if f.signed_off else ""
            out.append(f"| {icon} | `{f.rule}` | `{f.revision}` | {where} | {f.message}{note} |")
        out.append("")
        for f in report.findings:
            if f.fix and not f.signed_off:
                out += [f"<details><summary><code>{f.rule}</code> in <code>{f.revision}</code>: safe alternative"
                        "</summary>", "", f.help, "", "```python", f.fix, "```", "", "</details>", ""]
    out += [f"> {n}" for n in report.notes]
    return "\n".join(out) + "\n"


def migrate(report) -> str:  # MigrateReport
    out = [f"## safemigrate migrate ({report.mode}, {report.environment})", ""]
    if report.checks:
        out += ["| | Check | Result |", "|---|---|---|"]
        out += [f"| {':white_check_mark:' if c.ok else ':x:'} | {c.name} | {c.message}"
                + (f" _Fix_: {c.fix}" if not c.ok and c.fix else "") + " |" for c in report.checks]
        out.append("")
    out += [f"- applied `{a.revision}` {a.message}" for a in report.applied]
    out += [f"- generated `{p}`" for p in report.generated]
    out += [f"- :warning: withheld: {w}" for w in report.withheld]
    out += [f"> {n}" for n in report.notes]
    return "\n".join(out) + "\n"
