"""``safemigrate config``: each setting with its value and its source, then the databases reached."""

from __future__ import annotations

import json
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from safemigrate.render.escape import cell, code

_SOURCE_STYLE = {"pyproject": "cyan", "default": "dim", "unset": "yellow"}


def _shown(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, (list, dict, bool)):
        return json.dumps(value)
    return str(value)


def config_text(console: Console, report) -> None:  # ConfigReport
    console.print(Text.assemble(("Configuration ", "bold"), report.pyproject))
    console.print(f"Alembic environment: {report.script_location}"
                  + (f" (ini: {report.alembic_ini})" if report.alembic_ini else " (no ini: safemigrate writes one)"))
    table = Table(show_lines=False, title_justify="left")
    for column in ("key", "value", "source", "note"):
        table.add_column(column, overflow="fold", no_wrap=column == "key")
    for v in report.values:
        source_style = _SOURCE_STYLE.get(v.source, "magenta")  # an environment variable or an option
        table.add_row(v.key, _shown(v.value), Text(v.source, style=source_style), Text(v.note, style="dim"))
    console.print(table)
    for c in report.connections:
        if c.reachable is None:
            console.print(Text(f"{c.name}: {c.url} parses (not connected: {c.problem or '--no-connect'})",
                               style="dim"))
        elif c.reachable:
            console.print(Text(f"✓ {c.name}: {c.url} answered", style="green"))
        else:
            console.print(Text(f"✗ {c.name}: {c.problem}", style="red"))
    if report.ok:
        console.print(Text("The configuration is valid.", style="bold green"))


def config_markdown(report) -> str:  # ConfigReport
    out = [f"## safemigrate configuration ({code(report.pyproject)})", "", "| Key | Value | Source | Note |",
           "|---|---|---|---|"]
    out += [f"| {code(v.key)} | {cell(_shown(v.value))} | {v.source} | {cell(v.note)} |" for v in report.values]
    out.append("")
    for c in report.connections:
        state = "not connected" if c.reachable is None else ("answered" if c.reachable else cell(c.problem))
        out.append(f"- {code(c.name)} {code(c.url)}: {state}")
    return "\n".join(out) + "\n"
