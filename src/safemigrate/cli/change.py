"""``safemigrate change ...``: expand–contract changes. Parse, call :mod:`safemigrate.changes`, render."""

from __future__ import annotations

from pathlib import Path

import click

from safemigrate import changes
from safemigrate.changes import sql
from safemigrate.changes.author import split_target
from safemigrate.changes.lifecycle import TARGET_BATCH_MS
from safemigrate.render import changes as render


@click.group(short_help="Zero-downtime changes: expand, backfill, contract.")
def change() -> None:
    """Zero-downtime changes in three deploys: expand, backfill, contract (PostgreSQL)."""


# Imported after `change` exists, as in safemigrate.cli.ci: safemigrate.cli registers this group at its end.
from safemigrate.cli.common import _emit, _project, _run, project_options  # noqa: E402

_NAME = click.option("--name", default=None, help="The change's name (default: e.g. rename_users_email).")
_LATER = click.option("--contract-later", is_flag=True,
                      help="Write only the expand revision now; `safemigrate change contract NAME` writes the "
                           "contract revision when the deploy that needs it comes.")


def _write(project_path: Path | None, database_url: str | None, fmt: str, kind: str, target: str, **options) -> None:
    def action() -> bool:
        table, column = split_target(target)
        report = changes.write_change(_project(project_path, database_url=database_url), kind, table, column,
                                      **options)
        _emit(report, fmt, render.written_text, render.written_markdown)
        return True
    _run(fmt, action)


@change.command("rename-column", short_help="Rename a column without downtime.")
@project_options()
@click.argument("target", metavar="TABLE.OLD")
@click.argument("new")
@_NAME
@_LATER
def rename_column(project_path: Path | None, database_url: str | None, fmt: str, target: str, new: str,
                  name: str | None, contract_later: bool) -> None:
    """Rename TABLE.OLD to NEW: expand (NEW + a two-way trigger), backfill, contract (OLD dropped)."""
    _write(project_path, database_url, fmt, sql.RENAME_COLUMN, target, new_column=new, name=name,
           contract_later=contract_later)


@change.command("drop-column", short_help="Drop a column in three deploys.")
@project_options()
@click.argument("target", metavar="TABLE.COLUMN")
@_NAME
@_LATER
def drop_column(project_path: Path | None, database_url: str | None, fmt: str, target: str, name: str | None,
                contract_later: bool) -> None:
    """Drop TABLE.COLUMN: expand (no longer required), the code stops using it, contract (dropped)."""
    _write(project_path, database_url, fmt, sql.DROP_COLUMN, target, name=name, contract_later=contract_later)


@change.command("set-not-null", short_help="Make a column NOT NULL without a long lock.")
@project_options()
@click.argument("target", metavar="TABLE.COLUMN")
@click.option("--fill", default=None, metavar="VALUE", help="SQL literal written into the NULLs, e.g. 0 or \"''\".")
@_NAME
@_LATER
def set_not_null(project_path: Path | None, database_url: str | None, fmt: str, target: str, fill: str | None,
                 name: str | None, contract_later: bool) -> None:
    """Make TABLE.COLUMN NOT NULL: expand (CHECK NOT VALID + a filling trigger), backfill, contract."""
    _write(project_path, database_url, fmt, sql.SET_NOT_NULL, target, fill=fill, name=name,
           contract_later=contract_later)


@change.command("change-type", short_help="Change a column's type without downtime.")
@project_options()
@click.argument("target", metavar="TABLE.COLUMN")
@click.argument("new_type", metavar="TYPE")
@click.option("--to", "new_column", required=True, metavar="NEW",
              help="The new column (it keeps the new type; rename-column it afterwards to take the old name).")
@click.option("--using", required=True, metavar="EXPR", help="The new value from a row, e.g. amount::numeric(12,2).")
@click.option("--down", required=True, metavar="EXPR",
              help="The old value from a row the new version wrote, e.g. amount_v2::integer.")
@_NAME
@_LATER
def change_type(project_path: Path | None, database_url: str | None, fmt: str, target: str, new_type: str,
                new_column: str, using: str, down: str, name: str | None, contract_later: bool) -> None:
    """Change TABLE.COLUMN's type into a new column NEW: expand (NEW + a converting trigger), backfill, contract."""
    _write(project_path, database_url, fmt, sql.CHANGE_TYPE, target, new_column=new_column, new_type=new_type,
           using=using, down=down, name=name, contract_later=contract_later)


@change.command("rename-table", short_help="Rename a table without downtime.")
@project_options()
@click.argument("old")
@click.argument("new")
@_NAME
@_LATER
def rename_table(project_path: Path | None, database_url: str | None, fmt: str, old: str, new: str,
                 name: str | None, contract_later: bool) -> None:
    """Rename table OLD to NEW: expand (NEW + triggers copying every write both ways), backfill, contract."""
    def action() -> bool:
        report = changes.write_change(_project(project_path, database_url=database_url), sql.RENAME_TABLE, old,
                                      new_table=new, name=name, contract_later=contract_later)
        _emit(report, fmt, render.written_text, render.written_markdown)
        return True
    _run(fmt, action)


@change.command("contract", short_help="Write a change's contract revision later.")
@project_options()
@click.argument("name")
def contract(project_path: Path | None, database_url: str | None, fmt: str, name: str) -> None:
    """Write the contract revision of a change written with --contract-later."""
    def action() -> bool:
        report = changes.write_contract(_project(project_path, database_url=database_url), name)
        _emit(report, fmt, render.written_text, render.written_markdown)
        return True
    _run(fmt, action)


@change.command("backfill", short_help="Fill the new shape in batches; resumes.")
@project_options()
@click.argument("name")
@click.option("--batch-size", type=click.IntRange(10), default=1000, show_default=True,
              help="Rows in the first batch; the size then adapts to keep each batch under --target-ms.")
@click.option("--max-batch-size", type=click.IntRange(10), default=50_000, show_default=True)
@click.option("--target-ms", type=click.FloatRange(10), default=TARGET_BATCH_MS, show_default=True,
              help="How long one batch (its transaction, its row locks) may take: a write to one of its rows waits "
                   "at most that long (PostgreSQL cancels a batch at 1.5 times it and redoes it smaller).")
def backfill(project_path: Path | None, database_url: str | None, fmt: str, name: str, batch_size: int,
             max_batch_size: int, target_ms: float) -> None:
    """Fill the new shape of NAME in batches (resumes after a kill), then verify it: phase backfilled."""
    def action() -> bool:
        report = changes.backfill(_project(project_path, database_url=database_url), name, batch_size=batch_size,
                                  max_batch_size=max(batch_size, max_batch_size), target_ms=target_ms)
        _emit(report, fmt, render.backfill_text, render.backfill_markdown)
        return report.verified
    _run(fmt, action)


@change.command("status", short_help="Every change of the project and its phase.")
@project_options()
def status(project_path: Path | None, database_url: str | None, fmt: str) -> None:
    """Every expand–contract change of the project and its phase in the database."""
    def action() -> bool:
        _emit(changes.status(_project(project_path, database_url=database_url)), fmt, render.status_text,
              render.status_markdown)
        return True
    _run(fmt, action)


@change.command("abort")
@project_options()
@click.argument("name")
def abort(project_path: Path | None, database_url: str | None, fmt: str, name: str) -> None:
    """Give up NAME: its contract revision is refused from now on."""
    def action() -> bool:
        _emit(changes.abort(_project(project_path, database_url=database_url), name), fmt, render.state_text,
              render.state_markdown)
        return True
    _run(fmt, action)
