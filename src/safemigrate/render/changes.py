"""Expand–contract changes (``safemigrate change``): what was written, the backfill, every change's phase."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table
from rich.text import Text

from safemigrate.render.escape import cell, code


def written_text(console: Console, report) -> None:  # ChangeWritten
    console.print(Text.assemble(("Change ", "bold"), (report.name, "bold"), f": {report.description}"))
    for path in report.files:
        console.print(f"  wrote {path}")
    console.print(f"  plan  {report.plan_file}")
    if report.contract_revision is None:
        console.print(Text(f"  the contract revision is written later: safemigrate change contract {report.name}",
                           style="yellow"))
    console.print()
    console.print(Text("The models, deploy by deploy:", style="bold"))
    for step in report.steps:
        console.print(step)
        console.print()


def written_markdown(report) -> str:  # ChangeWritten
    out = [f"## Change {code(report.name)}", "", report.description, ""]
    out += [f"- wrote {code(p)}" for p in report.files] + [f"- plan {code(report.plan_file)}", ""]
    out += ["### The models, deploy by deploy", ""] + [f"```\n{step}\n```\n" for step in report.steps]
    return "\n".join(out) + "\n"


def backfill_text(console: Console, report) -> None:  # BackfillReport
    start = f"resumed after key {report.resumed_after}" if report.resumed_after is not None else "from the first key"
    console.print(Text.assemble(("Backfill ", "bold"), (report.name, "bold"), f": {start}, {report.batches} "
                                f"batch(es), {report.rows_written} row(s) written of {report.rows_scanned} "
                                f"scanned, last key {report.last_key}"))
    console.print(f"  batch size {report.batch_size}, slowest batch {report.slowest_batch_ms:.0f} ms, "
                  f"{report.duration_ms / 1000:.1f} s in all"
                  + (f"; {report.cancelled} batch(es) over time, cancelled and redone smaller"
                     if getattr(report, "cancelled", 0) else ""))
    if report.verified:
        console.print(Text("  verified: 0 rows where the old and the new shape disagree; phase backfilled",
                           style="green"))
    else:
        console.print(Text(f"  {report.remaining} row(s) still disagree; run the backfill again", style="red"))


def backfill_markdown(report) -> str:  # BackfillReport
    verdict = "verified (0 rows disagree)" if report.verified else f"{report.remaining} row(s) still disagree"
    return (f"## Backfill {code(report.name)}\n\n{report.batches} batch(es), {report.rows_written} row(s) written, "
            f"last key {code(str(report.last_key))}: {verdict}.\n")


def status_text(console: Console, report) -> None:  # ChangeStatusReport
    if not report.changes:
        console.print(f"No expand–contract change in this project ({report.database}).")
        return
    table = Table(title=f"Expand–contract changes ({report.database})", title_justify="left")
    for column in ("name", "phase", "change", "backfilled", "next step"):
        table.add_column(column, overflow="fold")
    for change in report.changes:
        style = {"backfilled": "green", "contracted": "dim", "aborted": "red"}.get(change.phase, "yellow")
        table.add_row(Text(change.name, style="bold"), Text(change.phase, style=style), change.description,
                      f"{change.rows_done} rows, {change.batches} batches", change.next_step)
    console.print(table)


def status_markdown(report) -> str:  # ChangeStatusReport
    out = [f"## Expand–contract changes ({code(report.database)})", "", "| Name | Phase | Change | Next step |",
           "|---|---|---|---|"]
    out += [f"| {code(c.name)} | {c.phase} | {cell(c.description)} | {cell(c.next_step)} |" for c in report.changes]
    return "\n".join(out) + "\n"


def state_text(console: Console, change) -> None:  # ChangeState
    console.print(Text.assemble(("Change ", "bold"), (change.name, "bold"), f" is {change.phase}: "
                                f"{change.description}."))
    if change.next_step:
        console.print(f"  next: {change.next_step}")


def state_markdown(change) -> str:  # ChangeState
    return f"Change {code(change.name)} is {change.phase}: {cell(change.description)}. Next: {cell(change.next_step)}\n"
