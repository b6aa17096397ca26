"""``safemigrate ci check`` and ``safemigrate ci autofix``: parse, call the library, render.

Besides the chosen --format on stdout, both commands append Markdown to
``$GITHUB_STEP_SUMMARY`` when it is set, and print GitHub annotations when
``GITHUB_ACTIONS=true`` (on stdout; on stderr with --format json, so that
stdout stays one JSON document).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from safemigrate.ci.autofix import autofix
from safemigrate.ci.check import ci_check, ci_project
from safemigrate.ci.git import Identity
from safemigrate.core.errors import SafemigrateError
from safemigrate.core.secrets import redact
from safemigrate.render import FORMATS
from safemigrate.render import ci as render

SUMMARY_ENV = "GITHUB_STEP_SUMMARY"


@click.group(short_help="Pull-request checks and the post-merge auto-fix.")
def ci() -> None:
    """Pull-request checks and the post-merge auto-fix, for CI (GitHub Actions)."""


# Imported after `ci` exists: safemigrate.cli registers this group at its end, so whichever of the two
# modules is imported first, the other finds what it needs.
from safemigrate.cli.common import _emit, _run, project_options, verbose  # noqa: E402


@ci.command("check", short_help="Check a pull request's migrations against BASE.")
@project_options(FORMATS)
@click.option("--base", required=True, metavar="REF",
              help="Git ref the pull request goes into, e.g. origin/main (fetch it first).")
@click.option("--scratch-url", default=None, metavar="URL",
              help="Server for throwaway databases (postgresql://...); default: a SQLite file.")
@click.option("--dialect", default=None,
              help="Production dialect for the SQL (default: configured dialect, else the scratch server's).")
@click.option("--pg-version", type=int, default=None, help="PostgreSQL major version to lint for.")
@click.option("--rehearse", is_flag=True,
              help="Also rehearse the new revisions on a synthetic copy (rows and budgets from "
                   "[tool.safemigrate.rehearsal]) on the --scratch-url server; over budget fails the check.")
def check(project_path: Path | None, database_url: str | None, fmt: str, base: str, scratch_url: str | None,
          dialect: str | None, pg_version: int | None, rehearse: bool) -> None:
    """Check a pull request's migrations against BASE: heads, drift, merged revisions, SQL, lint, round trip."""
    def action() -> bool:
        project = ci_project(project_path, scratch_url=scratch_url, dialect=dialect, database_url=database_url,
                              verbose=verbose())
        report = ci_check(project, base, pg_version=pg_version, rehearse=rehearse)
        _publish(render.check_markdown(report), render.check_annotations(report), fmt)
        _emit(report, fmt, render.check_text, render.check_markdown)
        return report.ok
    _run(fmt, _summarising("ci check", fmt, action))


@ci.command("autofix", short_help="After a merge: generate, check and commit the fix.")
@project_options(FORMATS)
@click.option("--push", is_flag=True, help="Push the commit (rebasing once if the branch moved meanwhile).")
@click.option("--author", default=None, metavar="'NAME <EMAIL>'",
              help="Commit author (default: git's configured user, else github-actions[bot]).")
@click.option("--remote", default=None, help="Remote to push to (default: the branch's remote, else origin).")
@click.option("--scratch-url", default=None, metavar="URL", help="Server for the throwaway database.")
@click.option("--dialect", default=None, help="Production dialect (default: as for `ci check`).")
def autofix_cmd(project_path: Path | None, database_url: str | None, fmt: str, push: bool, author: str | None,
                remote: str | None, scratch_url: str | None, dialect: str | None) -> None:
    """On main after a merge: generate, check, lint and commit the missing migration ([skip ci])."""
    def action() -> bool:
        identity = Identity.parse(author) if author else None

        def make() -> Any:
            return ci_project(project_path, scratch_url=scratch_url, dialect=dialect, database_url=database_url,
                              verbose=verbose())

        report = autofix(make, push=push, author=identity, remote=remote)
        _publish(render.autofix_markdown(report), render.autofix_annotations(report), fmt)
        _emit(report, fmt, render.autofix_text, render.autofix_markdown)
        return report.ok
    _run(fmt, _summarising("ci autofix", fmt, action))


def _summarising(command: str, fmt: str, action: Callable[[], bool]) -> Callable[[], bool]:
    """``action``, with an expected failure also written to the job summary and annotated."""
    def run() -> bool:
        try:
            return action()
        except SafemigrateError as exc:
            _publish(render.error_markdown(command, exc), render.error_annotation(command, exc), fmt)
            raise
    return run


def _publish(markdown: str, annotations: str, fmt: str) -> None:
    summary = os.environ.get(SUMMARY_ENV)
    if summary:
        try:
            with open(summary, "a", encoding="utf-8") as handle:
                handle.write(redact(markdown) + "\n")
        except OSError as exc:
            click.echo(f"safemigrate: could not append to ${SUMMARY_ENV} ({summary}): {exc}", err=True)
    if os.environ.get("GITHUB_ACTIONS", "").lower() == "true" and annotations:
        click.echo(redact(annotations), nl=False, err=fmt == "json")
