"""What a backup folder holds: complete backups (a manifest), incomplete dumps, retention."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from safemigrate.backup.results import MANIFEST_SUFFIX, BackupEntry, BackupList, Manifest, PruneResult
from safemigrate.backup.storage import Storage
from safemigrate.core.errors import BackupNotFound, StorageError

DUMP_SUFFIXES = (".dump", ".sql.gz", ".sqlite.gz")
#: An incomplete dump younger than this may belong to a backup still running: prune leaves it alone.
INCOMPLETE_GRACE = timedelta(hours=24)


def _mtime(info: dict[str, Any]) -> datetime | None:
    for key in ("LastModified", "mtime", "created", "updated", "last_modified"):
        value = info.get(key)
        if isinstance(value, datetime):
            return value if value.tzinfo else value.replace(tzinfo=UTC)
        if isinstance(value, (int, float)):
            return datetime.fromtimestamp(value, UTC)
        if isinstance(value, str):
            try:
                parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
            except ValueError:
                continue
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return None


def scan(storage: Storage) -> tuple[list[tuple[Manifest, str]], list[tuple[BackupEntry, str]]]:
    """(complete backups with their manifest's object name, newest first; incomplete dumps with theirs)."""
    objects = storage.find()
    manifests: list[tuple[Manifest, str]] = []
    readable: set[str] = set()
    for name, _ in objects:
        if name.endswith(MANIFEST_SUFFIX):
            try:
                manifest = Manifest.from_json(storage.read_text(name))
            except (ValueError, TypeError, KeyError, json.JSONDecodeError):
                continue  # not one of ours
            manifests.append((manifest, name))
            readable.add(name)
    manifests.sort(key=lambda item: item[0].finished_at, reverse=True)
    covered = {_sibling(name, m.dump) for m, name in manifests}
    incomplete = []
    for name, info in objects:
        if name.endswith(DUMP_SUFFIXES) and name not in covered:
            stem = next(name[: -len(s)] for s in DUMP_SUFFIXES if name.endswith(s))
            if stem + MANIFEST_SUFFIX in readable:
                continue  # its manifest names another dump file; an unreadable manifest claims nothing
            when = _mtime(info)
            incomplete.append((BackupEntry(id=stem, location=storage.location(name), complete=False,
                                           size=info.get("size"), finished_at=when.isoformat() if when else None),
                               name))
    return manifests, incomplete


def _sibling(manifest_name: str, dump: str) -> str:
    folder = manifest_name.rsplit("/", 1)[0] + "/" if "/" in manifest_name else ""
    return folder + dump


def entry(storage: Storage, manifest: Manifest, manifest_name: str) -> BackupEntry:
    return BackupEntry(
        id=manifest.id, location=storage.location(_sibling(manifest_name, manifest.dump)), complete=True,
        backend=manifest.backend, database_name=manifest.database_name, environment=manifest.environment,
        from_revision=manifest.from_revision, to_revision=manifest.to_revision, size=manifest.size,
        finished_at=manifest.finished_at,
    )


def list_backups(storage: Storage) -> BackupList:
    manifests, incomplete = scan(storage)
    return BackupList(location=storage.describe(),
                      backups=[entry(storage, m, n) for m, n in manifests] + [e for e, _ in incomplete])


#: A manifest finishing later than this from now has a wrong clock (or was forged): it is never "latest".
CLOCK_SKEW = timedelta(minutes=5)


def same_name(backend: str, recorded: str, name: str) -> bool:
    """Whether a manifest's database name is ``name`` (SQLite: the file's name, wherever it is now)."""
    if backend == "sqlite":
        return Path(recorded).stem == Path(name).stem
    return recorded == name


def of_database(manifest: Manifest, backend: str, database_name: str) -> bool:
    return manifest.backend == backend and same_name(backend, manifest.database_name, database_name)


def _in_future(manifest: Manifest, now: datetime) -> bool:
    try:
        finished = datetime.fromisoformat(manifest.finished_at)
    except ValueError:
        return True
    return (finished if finished.tzinfo else finished.replace(tzinfo=UTC)) > now + CLOCK_SKEW


def find(storage: Storage, backup_id: str, *, database: tuple[str, str] | None = None,
         now: datetime | None = None) -> tuple[Manifest, str, str]:
    """(manifest, its object name, the dump's object name) of a complete backup.

    ``latest`` is the newest backup of ``database`` ((backend, name); any database when None) whose finish
    time is not in the future.
    """
    manifests, incomplete = scan(storage)
    if backup_id == "latest" and manifests:
        now = now or datetime.now(UTC)
        candidates = [(m, n) for m, n in manifests if not _in_future(m, now)
                      and (database is None or of_database(m, *database))]
        if not candidates and database is not None:
            others = sorted({f"{m.database_name} ({m.backend}, {m.environment})" for m, _ in manifests})
            raise BackupNotFound(
                f"There is no backup of database {database[1]} ({database[0]}) in {storage.describe()}; there are "
                f"backups of: {', '.join(others)}.",
                "`latest` means the newest backup of the database it is used on, never another database's.",
                "Give the id of the backup you mean (see `safemigrate backup list`); restoring another "
                "database's backup over this one also needs --from-other-database.",
            )
        if candidates:
            manifest, name = candidates[0]
            return manifest, name, _sibling(name, manifest.dump)
    exact = [(m, n) for m, n in manifests if m.id == backup_id]
    matches = exact or [(m, n) for m, n in manifests if m.id.startswith(backup_id)]
    if len(matches) == 1:
        manifest, name = matches[0]
        return manifest, name, _sibling(name, manifest.dump)
    if len(matches) > 1:
        raise BackupNotFound(
            f"{backup_id!r} matches {len(matches)} backups in {storage.describe()}: "
            f"{', '.join(m.id for m, _ in matches[:5])}.",
            "A restore must name exactly one backup.",
            "Give the full id (see `safemigrate backup list`).",
        )
    if any(e.id == backup_id for e, _ in incomplete):
        raise BackupNotFound(
            f"{backup_id} in {storage.describe()} is incomplete: its dump has no manifest.",
            "A dump without a manifest was interrupted or failed verification; it cannot be trusted.",
            "Use a complete backup (see `safemigrate backup list`), and delete this one with "
            "`safemigrate backup prune`.",
        )
    raise BackupNotFound(
        f"There is no backup {backup_id!r} in {storage.describe()}.",
        "safemigrate only restores backups whose manifest it can read there.",
        "List the backups with `safemigrate backup list` (pass --dest if they are elsewhere).",
    )


def prune(storage: Storage, *, keep: int | None = None, older_than_days: float | None = None,
          database_name: str | None = None, environment: str | None = None, dry_run: bool = False,
          now: datetime | None = None) -> PruneResult:
    """Delete complete backups beyond the newest ``keep`` (per database and environment) and/or older than
    ``older_than_days``; with both, only those matching both. Incomplete dumps older than a day go too."""
    now = now or datetime.now(UTC)
    manifests, incomplete = scan(storage)
    deleted: list[str] = []
    kept: list[str] = []
    seen: dict[tuple[str, str], int] = {}
    # a manifest claiming to finish in the future sorts first but is not the newest: judge it as the oldest
    ordered = [item for item in manifests if not _in_future(item[0], now)] + \
              [item for item in manifests if _in_future(item[0], now)]
    for manifest, name in ordered:  # newest first
        if database_name is not None and manifest.database_name != database_name:
            continue
        if environment is not None and manifest.environment != environment:
            continue
        series = (manifest.database_name, manifest.environment)
        seen[series] = seen.get(series, 0) + 1
        newest = seen[series] == 1 and not _in_future(manifest, now)  # never deleted, whatever the options
        beyond_keep = keep is None or seen[series] > keep
        try:
            finished = datetime.fromisoformat(manifest.finished_at)
        except ValueError:
            finished = now
        too_old = older_than_days is None or now - finished > timedelta(days=older_than_days)
        if (keep is not None or older_than_days is not None) and beyond_keep and too_old and not newest:
            deleted.append(manifest.id)
            if not dry_run:
                _delete_backup(storage, name, _sibling(name, manifest.dump))
        else:
            kept.append(manifest.id)
    stale = []
    for item, dump in incomplete:
        when = datetime.fromisoformat(item.finished_at) if item.finished_at else None
        if when is not None and now - when > INCOMPLETE_GRACE:
            stale.append(item.id)
            if not dry_run:
                storage.delete(dump)
                storage.delete(item.id + MANIFEST_SUFFIX)  # an unreadable manifest a kill left beside it
    return PruneResult(location=storage.describe(), deleted=deleted, kept=kept, incomplete_deleted=stale,
                       dry_run=dry_run)


def _delete_backup(storage: Storage, manifest_name: str, dump_name: str) -> None:
    # The manifest goes first: a dump left without one is incomplete, never a backup that looks valid.
    if not storage.delete(manifest_name) or not storage.delete(dump_name):
        raise StorageError(
            f"Could not delete the backup {manifest_name} from {storage.describe()}.",
            "Retention could not remove an old backup.",
            "Check the storage's permissions for deleting objects, then run `safemigrate backup prune` again.",
        )
