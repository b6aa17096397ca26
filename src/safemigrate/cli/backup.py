"""``safemigrate backup ...``: parse arguments, call :mod:`safemigrate.backup`, render.

Registered in the main CLI with ``main.add_command(backup)``. Progress goes
to stderr: a live rich display (bytes, rate) on a terminal, otherwise one
plain line per phase and every few seconds, which reads well in CI logs.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import click

from safemigrate.backup import create as create_backup
from safemigrate.backup import list_all
from safemigrate.backup import prune as prune_backups
from safemigrate.backup import restore as restore_backup
from safemigrate.backup import verify as verify_backup
from safemigrate.backup.results import Progress
from safemigrate.cli.common import _emit, _project, _run, project_options
from safemigrate.render import backup as render

_VERBS = {"dump": "dumping", "verify": "verifying", "restore": "restoring"}
_LINE_EVERY = 5.0


@contextmanager
def progress_display(enabled: bool = True) -> Iterator[Callable[[Progress], None] | None]:
    if not enabled:
        yield None
        return
    if sys.stderr.isatty():
        with _rich_progress() as callback:
            yield callback
        return
    state: dict[str, float] = {}

    def line(p: Progress) -> None:
        now = time.monotonic()
        first = p.phase not in state
        if first or p.done or now - state[p.phase] >= _LINE_EVERY:
            state[p.phase] = now
            click.echo(f"{_VERBS.get(p.phase, p.phase)}: {render.size(p.bytes)} "
                       f"({render.size(int(p.rate))}/s, {p.elapsed_s:.1f}s)", err=True)

    yield line


@contextmanager
def _rich_progress() -> Iterator[Callable[[Progress], None]]:
    from rich.console import Console
    from rich.progress import Progress as Bar
    from rich.progress import SpinnerColumn, TaskID, TextColumn, TimeElapsedColumn

    bar = Bar(SpinnerColumn(finished_text="✓"), TextColumn("{task.description:<10}"),
              TextColumn("{task.fields[size]:>10}"), TextColumn("{task.fields[rate]:>12}"), TimeElapsedColumn(),
              console=Console(file=sys.stderr), transient=False)
    tasks: dict[str, TaskID] = {}

    def update(p: Progress) -> None:
        size, rate = render.size(p.bytes), f"{render.size(int(p.rate))}/s"
        if p.phase not in tasks:
            tasks[p.phase] = bar.add_task(_VERBS.get(p.phase, p.phase), total=None, size=size, rate=rate)
        bar.update(tasks[p.phase], completed=p.bytes, total=p.bytes if p.done else None, size=size, rate=rate)

    with bar:
        yield update


_dest = click.option("--dest", metavar="URL", default=None,
                     help="Backup folder (any fsspec URL); overrides [tool.safemigrate.backup] url.")
_scratch = click.option("--scratch-url", default=None, metavar="URL",
                        help="Server for the throwaway database of a restore check (default: the database's own).")
_quiet = click.option("--quiet", "-q", is_flag=True, help="No progress output.")


@click.group("backup", short_help="Backups: create, list, verify, restore, prune.")
def backup() -> None:
    """Pre-migration backups: create, list, verify, restore, prune (see docs/BACKUPS.md)."""


@backup.command("create", short_help="Dump the live database to storage and verify it.")
@project_options()
@_dest
@click.option("--env", "environment", default=None, help="Environment recorded in the name and manifest "
              "(default: $APP_ENV; unset means production).")
@click.option("--verify", "level", type=click.Choice(["checksum", "restore"]), default=None,
              help="checksum: re-read, sha256, size, readable; restore: also restore into a throwaway database "
              "and compare tables and row counts (default: [tool.safemigrate.backup] verify, else checksum).")
@_scratch
@_quiet
def create_cmd(project_path: Path | None, database_url: str | None, fmt: str, dest: str | None,
               environment: str | None, level: str | None, scratch_url: str | None, quiet: bool) -> None:
    """Stream a dump of the live database to storage, verify it, write its manifest."""
    def action() -> bool:
        project = _project(project_path, database_url=database_url, scratch_url=scratch_url,
                           environment=environment)
        with progress_display(not quiet) as on_progress:
            result = create_backup(project, destination=dest, verify=level, on_progress=on_progress)
        _emit(result, fmt, render.created, render.created_md)
        return result.ok
    _run(fmt, action)


@backup.command("list", short_help="Backups, newest first, and incomplete dumps.")
@project_options()
@_dest
def list_cmd(project_path: Path | None, database_url: str | None, fmt: str, dest: str | None) -> None:
    """Complete backups (newest first) and incomplete dumps in the backup folder."""
    def action() -> bool:
        result = list_all(_project(project_path, database_url=database_url), destination=dest)
        _emit(result, fmt, render.listed, render.listed_md)
        return True
    _run(fmt, action)


@backup.command("verify", short_help="Check a stored backup against its manifest.")
@project_options()
@click.argument("backup_id")
@_dest
@click.option("--restore", "by_restore", is_flag=True,
              help="Also restore into a throwaway database and compare tables and row counts with the manifest.")
@_scratch
@_quiet
def verify_cmd(project_path: Path | None, database_url: str | None, fmt: str, backup_id: str, dest: str | None,
               by_restore: bool, scratch_url: str | None, quiet: bool) -> None:
    """Check a stored backup against its manifest (BACKUP_ID, a unique prefix, or 'latest')."""
    def action() -> bool:
        project = _project(project_path, database_url=database_url, scratch_url=scratch_url)
        with progress_display(not quiet) as on_progress:
            result = verify_backup(project, backup_id, destination=dest,
                                   level="restore" if by_restore else "checksum", on_progress=on_progress)
        if result.ok or fmt != "json":  # in JSON a failure is the error document alone
            _emit(result, fmt, render.verified, render.verified_md)
        if not result.ok:
            from safemigrate.core.errors import VerificationFailed

            failed = "; ".join(f"{c.name}: {c.message.rstrip('.')}" for c in result.checks if not c.ok)
            raise VerificationFailed(
                f"Backup {result.id} failed verification: {failed}.",
                "A backup that does not read back exactly as written cannot be relied on for a restore.",
                "Take a new backup now (`safemigrate backup create`), and check the storage for tampering or "
                "corruption.",
            )
        return True
    _run(fmt, action)


@backup.command("restore", short_help="Restore a backup into a database.")
@project_options()
@click.argument("backup_id")
@_dest
@click.option("--to", "target", default=None, metavar="URL",
              help="Database to restore into (default: the live database). Created when it does not exist.")
@click.option("--replace", is_flag=True, help="Drop what the target database holds and restore over it.")
@click.option("--no-owner", is_flag=True, help="PostgreSQL: do not restore ownership and privileges "
              "(for a server without the source's roles).")
@click.option("--from-other-database", is_flag=True,
              help="Allow replacing the target with a backup of another database (or another environment).")
@click.option("--allow-production-restore", is_flag=True,
              help="Allow replacing the production/staging database (a verified safety backup is taken first).")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation (scripts).")
@_quiet
def restore_cmd(project_path: Path | None, database_url: str | None, fmt: str, backup_id: str, dest: str | None,
                target: str | None, replace: bool, no_owner: bool, from_other_database: bool,
                allow_production_restore: bool, yes: bool, quiet: bool) -> None:
    """Restore BACKUP_ID (a unique prefix, or 'latest': the target database's newest) into a database."""
    def confirm(question: str) -> bool:
        if yes:
            return True
        if not sys.stdin.isatty():
            return False
        return click.confirm(question, default=False, err=True)

    def action() -> bool:
        project = _project(project_path, database_url=database_url)
        with progress_display(not quiet) as on_progress:
            result = restore_backup(project, backup_id, target=target, destination=dest, replace=replace,
                                    owners=not no_owner, from_other_database=from_other_database,
                                    allow_production_restore=allow_production_restore, confirm=confirm,
                                    on_progress=on_progress)
        _emit(result, fmt, render.restored, render.restored_md)
        return True
    _run(fmt, action)


@backup.command("prune", short_help="Delete old backups and stale incomplete dumps.")
@project_options()
@_dest
@click.option("--keep", type=click.IntRange(min=1), default=None,
              help="Keep the newest N backups of each database and environment (default: the configured keep).")
@click.option("--older-than", "older_than", type=click.FloatRange(min=0), default=None, metavar="DAYS",
              help="Delete backups older than DAYS (with --keep: only those beyond the newest N).")
@click.option("--dry-run", is_flag=True, help="Show what would be deleted; delete nothing.")
def prune_cmd(project_path: Path | None, database_url: str | None, fmt: str, dest: str | None, keep: int | None,
              older_than: float | None, dry_run: bool) -> None:
    """Delete old backups (and incomplete dumps older than a day)."""
    def action() -> bool:
        result = prune_backups(_project(project_path, database_url=database_url), keep=keep,
                               older_than_days=older_than, destination=dest, dry_run=dry_run)
        _emit(result, fmt, render.pruned, render.pruned_md)
        return True
    _run(fmt, action)


if __name__ == "__main__":  # pragma: no cover - `python -m safemigrate.backup.cli` before the group is registered
    backup()
