"""``safemigrate rules`` and ``safemigrate rules explain ID``: parse, call the library, render."""

from __future__ import annotations

import click

from safemigrate.guard.selection import explain_rule, list_rules
from safemigrate.render import FORMATS
from safemigrate.render import rules as render

_FORMAT = click.option("--format", "fmt", type=click.Choice(FORMATS), default="text", show_default=True)


@click.group(invoke_without_command=True, short_help="List the lint rules; explain one.")
@_FORMAT
@click.pass_context
def rules(ctx: click.Context, fmt: str) -> None:
    """List every lint rule: id, severity, category, dialects, summary."""
    if ctx.invoked_subcommand is not None:
        return

    def action() -> bool:
        _emit(list_rules(), fmt, render.rules_text, render.rules_markdown)
        return True
    _run(fmt, action)


# Imported after `rules` exists, as in safemigrate.cli.ci: safemigrate.cli registers this group at its end.
from safemigrate.cli.common import _emit, _run  # noqa: E402


@rules.command("explain")
@click.argument("rule_id", metavar="ID")
@_FORMAT
def explain(rule_id: str, fmt: str) -> None:
    """What rule ID catches, with its Bad and Good migrations."""
    def action() -> bool:
        _emit(explain_rule(rule_id), fmt, render.explain_text, render.explain_markdown)
        return True
    _run(fmt, action)
