"""``safemigrate config``: parse, call ``checks.configuration``, render, exit.

Exit codes: 0 the configuration is valid (and every configured database answered); 2 a configuration error,
named with the key and, for a misspelt one, the closest known key; 3 a configured database did not answer
(``--no-connect`` skips connecting).
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from safemigrate.checks.configuration import check_configuration
from safemigrate.cli.common import _emit, _run, project_options
from safemigrate.core.errors import EXIT_DATABASE
from safemigrate.render import config as render


@click.command("config", short_help="Validate the configuration; show each value's source.")
@project_options()
@click.option("--env", "environment", default=None, help="Environment name (overrides the configured variable).")
@click.option("--scratch-url", default=None, metavar="URL", help="Server for throwaway databases.")
@click.option("--no-connect", is_flag=True, help="Check that the URLs parse, without connecting.")
def config(project_path: Path | None, database_url: str | None, fmt: str, environment: str | None,
           scratch_url: str | None, no_connect: bool) -> None:
    """Validate the whole configuration and show every value with where it came from."""
    def action() -> bool:
        report = check_configuration(project_path, database_url=database_url, environment=environment,
                                     scratch_url=scratch_url, connect=not no_connect)
        _emit(report, fmt, render.config_text, render.config_markdown)
        if not report.ok:
            sys.exit(EXIT_DATABASE)
        return True
    _run(fmt, action)
