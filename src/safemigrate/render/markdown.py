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
from safemigrate.render.escape import cell, code, fence, html, prose


def _problems(problems: list[Problem]) -> list[str]:
    out: list[str] = []
    for p in problems:
        out.append(f"- :x: **{p.code.replace('_', ' ')}**: {prose(p.message)}  \n  _Fix_: {prose(p.fix)}")
    return out


def _differences(title: str, diffs: list[Difference], dialect: str) -> list[str]:
    if not diffs:
        return []
    out = [f"### {title} ({len(diffs)})", "", "| # | Difference | Table |", "|---|---|---|"]
    for i, d in enumerate(diffs, 1):
        out.append(f"| {i} | {cell(d.description)} | {code(d.table)} |")
    out += ["", f"<details><summary>DDL that fixes it ({dialect})</summary>", ""]
    out += fence([s if s.rstrip().endswith(";") or s.startswith("--") else s + ";" for d in diffs for s in d.sql],
                 "sql")
    out += ["", "Alembic operations:", ""]
    out += fence([d.code for d in diffs if d.code], "python")
    out += ["", "</details>", ""]
    return out


def check(report: CheckReport) -> str:
    verdict = ":white_check_mark: models and migrations agree" if report.ok else ":x: models and migrations differ"
    out = [f"## safemigrate check: {verdict}", "",
           f"Throwaway database: {prose(report.scratch)}; {report.revisions_applied} revision(s) applied; "
           f"head: {code(', '.join(report.heads))}; DDL rendered for **{report.dialect}**.", ""]
    out += _problems(report.problems)
    out += _differences("Differences: the models have changes no migration makes", report.differences, report.dialect)
    out += [f"> {prose(n)}" for n in report.notes]
    return "\n".join(out) + "\n"


def live(report: LiveReport) -> str:
    verdict = ":white_check_mark: in sync" if report.ok else ":x: not in sync"
    out = [f"## safemigrate check --live: {verdict}", "",
           f"Database {code(report.database)} at {code(', '.join(report.database_heads) or '(none)')}; "
           f"code head {code(', '.join(report.code_heads))}.", ""]
    out += _problems(report.problems)
    out += _differences("Out-of-band changes: the database differs from its revision", report.out_of_band,
                        report.dialect)
    out += _differences("The database differs from the models", report.versus_models, report.dialect)
    if report.missing_in_migrations:
        out += [f"### In the database and the models, missing in the migrations ({len(report.missing_in_migrations)})",
                ""] + [f"- {cell(d.description)}" for d in report.missing_in_migrations] + [""]
    out += [f"> {prose(n)}" for n in report.notes]
    return "\n".join(out) + "\n"


def status(report: StatusReport) -> str:
    out = ["## safemigrate status", "", "| | |", "|---|---|",
           f"| Environment | {cell(report.environment)} |",
           f"| Database | {code(report.database or '(not configured)')} |",
           f"| Database revision | {code(', '.join(report.database_heads or []) or '(none)')} |",
           f"| Code head(s) | {code(', '.join(report.code_heads))} |",
           f"| Pending | {len(report.pending)} |",
           f"| Drift | {cell(report.drift)} |", ""]
    out += _problems(report.problems)
    return "\n".join(out) + "\n"


def review(report: ReviewReport) -> str:
    out = [f"## safemigrate review: {len(report.revisions)} revision(s) ({prose(report.range)})", "",
           f"SQL for **{report.dialect}**, {report.mode}.", ""]
    for run in report.revisions:
        info = run.revision
        body = run.sent
        out += [f"<details><summary><code>{html(info.revision)}</code> {html(info.message)} "
                f"({len(body)} statement(s), {html(info.path)})</summary>", ""]
        sql: list[str] = []
        for s in body:
            sql.append(s.sql if s.sql.rstrip().endswith(";") else s.sql + ";")
            if s.parameters:
                sql.append(f"-- parameters: {' '.join(s.parameters.split())}")
        out += fence(sql, "sql") + ["", "</details>", ""]
    out += [f"> {prose(n)}" for n in report.notes]
    return "\n".join(out) + "\n"


def init(report: InitReport) -> str:
    out = [f"## safemigrate init: {'adopted' if report.adopted else 'scaffolded'} {prose(report.script_location)}", ""]
    out += [f"- wrote {code(w)}" for w in report.written]
    if report.snippet:
        out += ["", "Paste into env.py:", ""] + fence(report.snippet.splitlines(), "python")
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
            where = code(f"{f.path}:{f.line}") if f.path and f.line else code(f.path)
            note = f" _(signed off: {cell(f.signed_off)})_" if f.signed_off else ""
            out.append(f"| {icon} | {code(f.rule)} | {code(f.revision)} | {where} | {cell(f.message)}{note} |")
        out.append("")
        for f in report.findings:
            if f.fix and not f.signed_off:
                out += [f"<details><summary><code>{html(f.rule)}</code> in <code>{html(f.revision)}</code>: safe "
                        "alternative</summary>", "", prose(f.help), ""] + fence(f.fix.splitlines(), "python") \
                    + ["", "</details>", ""]
    out += [f"> {prose(n)}" for n in report.notes]
    return "\n".join(out) + "\n"


def migrate(report) -> str:  # MigrateReport
    out = [f"## safemigrate migrate ({report.mode}, {prose(report.environment)})", ""]
    if report.checks:
        out += ["| | Check | Result |", "|---|---|---|"]
        out += [f"| {':white_check_mark:' if c.ok else ':x:'} | {cell(c.name)} | {cell(c.message)}"
                + (f" _Fix_: {cell(c.fix)}" if not c.ok and c.fix else "") + " |" for c in report.checks]
        out.append("")
    out += [f"- applied {code(a.revision)} {prose(a.message)}" for a in report.applied]
    out += [f"- generated {code(p)}" for p in report.generated]
    out += [f"- :warning: withheld: {prose(w)}" for w in report.withheld]
    out += [f"> {prose(n)}" for n in report.notes]
    return "\n".join(out) + "\n"


def downgraded(result) -> str:  # DowngradeResult
    verb = "would undo" if result.dry_run else "undid"
    out = [f"## safemigrate downgrade to {code(result.target)} ({prose(result.environment)})", "",
           f"{verb.capitalize()} {', '.join(code(r) for r in result.revisions) or 'nothing'} "
           f"(from {', '.join(code(h) for h in result.heads_before)}).", ""]
    if result.backup:
        out += [f"Verified backup taken first: {code(result.backup)}.", ""]
    for run in result.rehearsal:
        sql = [s.sql if s.sql.rstrip().endswith(";") or s.sql.startswith("--") else s.sql + ";" for s in run.sent]
        out += [f"<details><summary>undo <code>{html(run.revision.revision)}</code> "
                f"{html(run.revision.message)}</summary>", ""] + fence(sql, "sql") + ["", "</details>", ""]
    out += [f"> {prose(n)}" for n in result.notes]
    return "\n".join(out) + "\n"


def round_trips(report) -> str:  # DowngradeReport
    mark = ":white_check_mark:" if report.ok else ":x:"
    out = [f"## safemigrate verify-downgrade: {mark} "
           + ("every downgrade restores its schema" if report.ok else "some downgrades are broken"), "",
           "| | Revision | Stage | Result |", "|---|---|---|---|"]
    for item in report.revisions:
        result = "upgrade, downgrade, upgrade" if item.ok else item.message
        if item.differences:
            result += ": " + "; ".join(item.differences)
        out.append(f"| {':white_check_mark:' if item.ok else ':x:'} | {code(item.revision)} | {cell(item.stage)} "
                   f"| {cell(result)} |")
    return "\n".join(out) + "\n"


def ledger_changed(result) -> str:  # LedgerChange
    return f"Ledger: {prose(result.describe())}\n"
