"""The rule list (``safemigrate rules``) and one rule's explanation (``safemigrate rules explain ID``)."""

from __future__ import annotations

from rich.console import Console
from rich.syntax import Syntax
from rich.table import Table
from rich.text import Text

from safemigrate.render.escape import cell, code, fence


def rules_text(console: Console, report) -> None:  # RulesReport
    table = Table(title=f"safemigrate rules ({len(report.rules)})", title_justify="left", show_lines=False)
    table.add_column("id", no_wrap=True)
    for column in ("severity", "category", "dialects", "summary"):
        table.add_column(column, overflow="fold")
    for r in report.rules:
        table.add_row(Text(r.id, style="bold"), Text(r.severity, style="red" if r.severity == "error" else "yellow"),
                      r.category, ", ".join(r.dialects), r.summary)
    console.print(table)
    console.print(Text("`safemigrate rules explain ID` shows a rule's Bad and Good migrations.", style="dim"))


def rules_markdown(report) -> str:  # RulesReport
    out = [f"## safemigrate rules ({len(report.rules)})", "", "| Id | Severity | Category | Dialects | Summary |",
           "|---|---|---|---|---|"]
    out += [f"| {code(r.id)} | {r.severity} | {r.category} | {cell(', '.join(r.dialects))} | {cell(r.summary)} |"
            for r in report.rules]
    return "\n".join(out) + "\n"


def explain_text(console: Console, rule) -> None:  # RuleExplanation
    console.print(Text.assemble((rule.id, "bold"), f" — {rule.severity}, {rule.category}, "
                                f"{', '.join(rule.dialects)}"))
    console.print(Text(rule.summary))
    if rule.explanation and rule.explanation != rule.summary:
        console.print()
        console.print(Text(rule.explanation))
    for title, example, style in (("Bad", rule.bad_example, "bold red"), ("Good", rule.good_example, "bold green")):
        if example:
            console.print()
            console.print(Text(f"{title}:", style=style))
            console.print(Syntax(example, "python", word_wrap=True, padding=(0, 2)))
    if rule.blocked_at_run_time:
        console.print()
        console.print(Text(f"The run-time guard refuses this change in production unless the revision signs it off: "
                           f"allow({rule.id!r}, 'table.column', reason='...'). Ignoring the rule in "
                           "[tool.safemigrate.lint] silences lint only.", style="cyan"))


def explain_markdown(rule) -> str:  # RuleExplanation
    out = [f"## {code(rule.id)}", "", f"{rule.severity}, {rule.category}, {cell(', '.join(rule.dialects))}: "
           f"{cell(rule.summary)}", ""]
    if rule.explanation and rule.explanation != rule.summary:
        out += fence(rule.explanation.splitlines()) + [""]
    for title, example in (("Bad", rule.bad_example), ("Good", rule.good_example)):
        if example:
            out += [f"**{title}**", ""] + fence(example.splitlines(), "python") + [""]
    return "\n".join(out)
