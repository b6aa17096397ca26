"""``safemigrate rehearse``: parse arguments, call :func:`Project.rehearse`, render, exit.

Exit codes: 0 every statement within budget; 1 a statement over budget, or one whose every retry hit
lock_timeout (--blocker); 2 a refused or bad rehearsal (the live database as the copy, SQLite, --template or
--rows on MySQL/MariaDB, bad --rows or --blocker); 3 a copy that cannot be made, a database that
cannot be reached, or a revision that failed on the copy; a backup that cannot be found or restored (--backup)
exits 2 when the backup is not found, 3 when it does not restore.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from safemigrate.cli.common import _emit, _project, _run, project_options
from safemigrate.config.rehearsal import Budgets, budget_ms
from safemigrate.core.durations import parse_ms
from safemigrate.core.errors import UsageError
from safemigrate.rehearsal.copies import CopySource
from safemigrate.render.rehearsal import rehearsal as rehearsal_text
from safemigrate.render.rehearsal import rehearsal_markdown


def _rows(values: tuple[str, ...]) -> tuple[int | None, dict[str, int]]:
    """--rows N and --rows table=N, as often as given."""
    every: int | None = None
    per_table: dict[str, int] = {}
    for value in values:
        name, sep, count = value.rpartition("=") if "=" in value else ("", "", value)
        if not count.strip().isdigit() or (sep and not name.strip()):
            raise UsageError(
                f"--rows {value!r} is not a number of rows.",
                "A synthetic copy fills every table to N rows, or the table named to its own number.",
                "Write --rows 1000000 or --rows orders=5000000 (both may be given, and --rows table=N repeated).",
            )
        if sep:
            per_table[name.strip()] = int(count)
        else:
            every = int(count)
    return every, per_table


def _blocker_ms(value: str) -> int:
    parsed = parse_ms(value)
    if not parsed:
        raise UsageError(
            f"--blocker {value!r} is not a duration.",
            "It is how long another session holds each statement's tables before the statement runs.",
            "Write it like --blocker 5s (or 500ms, 1min).",
        )
    return parsed


@click.command(short_help="Run pending revisions on a copy; measure the locks.")
@project_options()
@click.argument("revision_range", required=False)
@click.option("--template", is_flag=True,
              help="Rehearse on a copy of the project's database made with CREATE DATABASE ... TEMPLATE on its "
                   "server (needs no other session connected to it); dropped afterwards.")
@click.option("--from-url", default=None, metavar="URL",
              help="Rehearse on this staging or clone database (never the live one): the revisions are applied "
                   "to it and it is kept.")
@click.option("--backup", "backup_id", default=None, metavar="ID|latest",
              help="Rehearse on one of safemigrate's backups (latest: the project's database's newest), restored "
                   "into a throwaway database on the scratch server (or the database's server); dropped afterwards.")
@click.option("--rows", "rows", multiple=True, metavar="N|TABLE=N",
              help="Rehearse on a synthetic copy: the schema before the range, each table filled to N rows "
                   "(or TABLE to N); dropped afterwards.")
@click.option("--scratch-url", default=None, metavar="URL",
              help="PostgreSQL server for the synthetic copy (default: the live database's server).")
@click.option("--max-writer-stall", default=None, metavar="DURATION",
              help="Fail (exit 1) when a statement blocks writes longer than this, e.g. 200ms.")
@click.option("--max-reader-stall", default=None, metavar="DURATION", help="Likewise for reads.")
@click.option("--max-duration", default=None, metavar="DURATION", help="Fail when a statement runs longer.")
@click.option("--blocker", default=None, metavar="DURATION",
              help="Before each statement on a table, another session holds that table (ACCESS SHARE, a read in "
                   "a long transaction) for DURATION, e.g. 5s: shows how long the statement queues, and the "
                   "application behind it, under the configured lock_timeout and --retries.")
@click.option("--retries", type=int, default=3, show_default=True,
              help="Retries of a revision after a lock timeout, as `safemigrate migrate --retries`.")
@click.option("--record/--no-record", default=None,
              help="Record a passing rehearsal in the project's database (safemigrate_rehearsals), for "
                   "require_rehearsal; default: when require_rehearsal is configured.")
def rehearse(project_path: Path | None, database_url: str | None, fmt: str, revision_range: str | None,
             **options: Any) -> None:
    """Run the pending revisions (or REVISION_RANGE) on a copy with volume and measure, per statement, the
    locks taken and how long application writes and reads were blocked (PostgreSQL, MySQL/MariaDB)."""
    def action() -> bool:
        every, per_table = _rows(options["rows"])
        project = _project(project_path, database_url=database_url, scratch_url=options["scratch_url"])
        configured = project.settings.rehearsal.budgets

        def budget(name: str, default: int | None) -> int | None:
            value = options[name.replace("-", "_")]
            return budget_ms(value, f"--{name}") if value else default

        budgets = Budgets(budget("max-writer-stall", configured.max_writer_stall_ms),
                          budget("max-reader-stall", configured.max_reader_stall_ms),
                          budget("max-duration", configured.max_duration_ms))
        source = CopySource(template=options["template"], from_url=options["from_url"], backup=options["backup_id"],
                            rows=every, table_rows=per_table)
        blocker = _blocker_ms(options["blocker"]) if options["blocker"] else None
        report = project.rehearse(revision_range, source=source, budgets=budgets, blocker_ms=blocker,
                                  retries=options["retries"], record=options["record"])
        _emit(report, fmt, rehearsal_text, rehearsal_markdown)
        return report.ok
    _run(fmt, action)
