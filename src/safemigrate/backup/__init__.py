"""Pre-migration backups: streamed to any fsspec storage, verified, listed, restored, pruned.

>>> from safemigrate import Workspace
>>> from safemigrate.backup import create, take_verified_backup
>>> result = create(Project.from_pyproject("."), environment="production")
>>> result.id, result.manifest.sha256, result.verify.ok

Every function returns a dataclass from :mod:`safemigrate.backup.results` and
raises a :class:`~safemigrate.core.errors.BackupError` (a SafemigrateError)
on failure. Nothing here prints. The heavy modules (fsspec, the dumpers) are
imported on first use, so importing this package stays cheap.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from safemigrate.backup.results import (
    BackupEntry,
    BackupList,
    BackupResult,
    Manifest,
    PruneResult,
    RestoreResult,
    VerifyResult,
)
from safemigrate.config.backup import BackupSettings, parse_backup_settings
from safemigrate.core.errors import (
    BackupConfigError,
    BackupError,
    BackupNotFound,
    DumpFailed,
    DumpToolMissing,
    RestoreFailed,
    RestoreRefused,
    StorageError,
    VerificationFailed,
)
from safemigrate.core.secrets import mask_url

if TYPE_CHECKING:
    from sqlalchemy.engine import URL

    from safemigrate.backup.pump import ProgressFn
    from safemigrate.backup.storage import Storage
    from safemigrate.harness.workspace import Workspace

__all__ = [
    "BackupConfigError", "BackupEntry", "BackupError", "BackupList", "BackupNotFound", "BackupResult",
    "BackupSettings", "DumpFailed", "DumpToolMissing", "Manifest", "PruneResult", "RestoreFailed", "RestoreRefused",
    "RestoreResult", "StorageError", "VerificationFailed", "VerifyResult", "backup_required", "create", "list_all",
    "parse_backup_settings", "prune", "restore", "settings_of", "take_verified_backup", "verify",
]


def settings_of(project: Workspace) -> BackupSettings:
    return parse_backup_settings(project.settings.backup)


def backup_required(project: Workspace, environment: str) -> bool:
    """True when ``environment`` (a canonical name) must have a verified backup before migrating.

    ``required_in`` defaults to ``["production"]``. A project without a backup url still answers True for
    production: take_verified_backup then fails with a configuration error that says what to set.
    """
    return settings_of(project).required(environment)


def _live(project: Workspace) -> URL:
    url = project.database_url
    if url is None:
        var = project.settings.database_url_env
        raise BackupConfigError(
            f"No database URL: ${var} is unset and [tool.safemigrate] has no database_url.",
            "A backup needs to know which database to dump.",
            f"Set {var} (or SAFEMIGRATE_DATABASE_URL), or pass --database-url.",
        )
    return url


def _storage(project: Workspace, destination: str | None) -> Storage:
    from safemigrate.backup.storage import Storage

    settings = settings_of(project)
    dest = destination or settings.url
    if not dest:
        raise BackupConfigError(
            "No backup destination: [tool.safemigrate.backup] has no url and --dest was not given.",
            "safemigrate needs to know where the backups are.",
            "Set url = 's3://bucket/folder' (or a local path) under [tool.safemigrate.backup], or pass --dest URL.",
        )
    return Storage(dest, settings.storage_options, timeout=settings.storage_timeout)


def create(project: Workspace, *, environment: str | None = None, destination: str | None = None,
           from_rev: str | None = None, to_rev: str | None = None, verify: str | None = None,
           on_progress: ProgressFn | None = None) -> BackupResult:
    """Back up the project's live database now (``safemigrate backup create``)."""
    from safemigrate.backup.take import create_backup

    return create_backup(_live(project), settings_of(project), environment=environment or project.environment.name,
                         destination=destination, from_rev=from_rev, to_rev=to_rev, verify=verify,
                         scratch_server=project.scratch_server, on_progress=on_progress)


def take_verified_backup(project: Workspace, *, environment: str, from_rev: str | None, to_rev: str | None,
                         on_progress: ProgressFn | None = None) -> BackupResult:
    """The backup ``migrate`` takes before the first pending revision; raises BackupError when it fails.

    The returned ``BackupResult.id`` is what the ledger records (``ledger.record(..., backup_id=result.id)``).
    """
    settings = settings_of(project)
    if not settings.configured:
        raise BackupConfigError(
            f"A verified backup is required before migrating in {environment}, but no backup destination is "
            "configured.",
            "Without a backup, a migration that goes wrong in production cannot be undone.",
            "Set url = 's3://bucket/folder' (or a local path) under [tool.safemigrate.backup]; or, if this "
            f"environment really needs no backup, leave {environment!r} out of required_in.",
        )
    return create(project, environment=environment, from_rev=from_rev, to_rev=to_rev, on_progress=on_progress)


def list_all(project: Workspace, *, destination: str | None = None) -> BackupList:
    from safemigrate.backup.catalog import list_backups

    return list_backups(_storage(project, destination))


def verify(project: Workspace, backup_id: str, *, destination: str | None = None, level: str = "checksum",
           on_progress: ProgressFn | None = None) -> VerifyResult:
    from safemigrate.backup.restoration import verify_backup

    return verify_backup(_storage(project, destination), backup_id, settings_of(project), level=level,
                         servers=(project.scratch_server, project.database_url), database=project.database_url,
                         on_progress=on_progress)


def restore(project: Workspace, backup_id: str, *, target: str | None = None, destination: str | None = None,
            replace: bool = False, owners: bool = True, from_other_database: bool = False,
            allow_production_restore: bool = False, confirm: Callable[[str], bool] | None = None,
            on_progress: ProgressFn | None = None) -> RestoreResult:
    """Restore into ``target`` (a URL), by default the project's live database.

    ``latest`` is the newest backup of the project's database (of ``target`` when there is none).
    Replacing the tables of a database with another database's backup (another name, or another
    environment for the live database) needs ``from_other_database``. Replacing the live database in
    production or staging needs ``allow_production_restore`` and ``confirm(question)`` answering True,
    and first takes a verified safety backup of it.
    """
    from safemigrate.backup.restoration import restore_backup
    from safemigrate.core.urls import parse_url
    from safemigrate.harness.recorder import same_database

    url = parse_url(target) if target else _live(project)
    live = project.database_url
    into_live = live is not None and same_database(url, live)
    env = project.environment

    def gate(manifest: Manifest, replaced: list[str]) -> list[str]:
        if not replaced:
            return []  # a new or empty database: nothing is overwritten
        from safemigrate.backup.catalog import same_name

        other = [] if same_name(manifest.backend, manifest.database_name, url.database or "") \
            else [f"database {manifest.database_name}"]
        if into_live and manifest.environment != env.name:
            other.append(f"environment {manifest.environment}")
        if other and not from_other_database:
            raise RestoreRefused(
                f"{manifest.id} is a backup of {' and '.join(other)}; the target is {mask_url(url)}"
                + (f" in {env.name}" if into_live else "") + ".",
                "Restoring another database's backup over this one replaces its data with data that never "
                "belonged to it (a development backup over production).",
                "Pick a backup of this database (`safemigrate backup list`); if this is really what you want, "
                "pass --from-other-database.",
            )
        if not (into_live and env.is_production_like):
            return []
        if not allow_production_restore:
            raise RestoreRefused(
                f"Refusing to restore over the {env.name} database {mask_url(url)} ({len(replaced)} table(s)).",
                "A restore replaces every table, and every row written since the backup was taken is lost.",
                "If this is the recovery you mean, pass --allow-production-restore (a verified safety backup of "
                "the database is taken first).",
            )
        question = (f"Replace the {len(replaced)} table(s) of the {env.name} database {mask_url(url)} with "
                    f"backup {manifest.id} (taken {manifest.finished_at})?")
        if confirm is None or not confirm(question):
            raise RestoreRefused(
                f"The restore over the {env.name} database {mask_url(url)} was not confirmed.",
                "Nothing was changed.",
                "Confirm on the terminal, or pass --yes in a script.",
            )
        safety = create(project, environment=env.name, from_rev=None, to_rev=None, verify="checksum",
                        on_progress=on_progress)
        return [f"Safety backup of the database as it was, taken and verified first: {safety.id}."]

    return restore_backup(_storage(project, destination), backup_id, url, settings_of(project), replace=replace,
                          owners=owners, gate=gate, source=live, on_progress=on_progress)


def prune(project: Workspace, *, keep: int | None = None, older_than_days: float | None = None,
          destination: str | None = None, dry_run: bool = False) -> PruneResult:
    from safemigrate.backup.catalog import prune as prune_backups

    settings = settings_of(project)
    keep = keep if keep is not None else (settings.keep if older_than_days is None else None)
    if keep is None and older_than_days is None:
        raise BackupConfigError(
            "Nothing to prune by: no --keep, no --older-than, and no keep in [tool.safemigrate.backup].",
            "Prune deletes backups; it needs to be told which.",
            "Pass --keep N (keep the newest N per database and environment) and/or --older-than DAYS.",
        )
    return prune_backups(_storage(project, destination), keep=keep, older_than_days=older_than_days,
                         dry_run=dry_run)
