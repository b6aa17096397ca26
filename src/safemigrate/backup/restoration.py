"""Restoring a backup into a database, and checking a stored one again.

Restoring over a database that holds tables destroys them, so it needs an
explicit ``replace=True`` (``--replace``); without it the error lists what
would be replaced. A target database that does not exist is created.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from sqlalchemy.engine import URL, make_url

from safemigrate.backup import catalog
from safemigrate.backup.dumpers import dumper_for
from safemigrate.backup.pump import ProgressFn, read_back
from safemigrate.backup.results import Manifest, RestoreResult, VerifyResult
from safemigrate.backup.storage import Storage
from safemigrate.backup.verification import verify_stored
from safemigrate.config.backup import BackupSettings
from safemigrate.core.errors import (
    BackupConfigError,
    RestoreFailed,
    RestoreRefused,
    SafemigrateError,
    VerificationFailed,
)
from safemigrate.core.secrets import mask_url
from safemigrate.core.urls import backend_of


def verify_backup(storage: Storage, backup_id: str, settings: BackupSettings, *, level: str = "checksum",
                  servers: tuple[URL | None, ...] = (), database: URL | None = None,
                  on_progress: ProgressFn | None = None) -> VerifyResult:
    """Check a stored backup against its manifest (and, with level='restore', by restoring it).

    ``servers``: candidates for the throwaway database of a restore check (the scratch server, the live
    database's server); the first of the backup's kind is used. ``database``: whose ``latest`` backup.
    """
    of = (backend_of(database), dumper_for(database, settings).database_name) if database is not None else None
    manifest, _, dump_name = catalog.find(storage, backup_id, database=of)
    server = next((s for s in servers if s is not None and backend_of(s) == manifest.backend), None)
    if server is None and manifest.backend != "sqlite" and level == "restore":
        raise BackupConfigError(
            f"Verifying {manifest.id} by restore needs a {manifest.backend} server for the throwaway database.",
            "The backup is restored into a temporary database there and compared with its manifest.",
            f"Pass --scratch-url (or set scratch_url) to a {manifest.backend} server where safemigrate may "
            "create databases.",
        )
    dumper = dumper_for(server or _placeholder(manifest.backend), settings)
    dumper.for_archive(manifest.tools)
    return verify_stored(storage, dump_name, manifest.id, dumper, size=manifest.size, sha256=manifest.sha256,
                         level=level, source_stats=manifest.tables, scratch_server=server,
                         on_progress=on_progress)


def _placeholder(backend: str) -> URL:
    """A URL of the right kind for a dumper that only reads archives (it never connects)."""
    return make_url({"postgresql": "postgresql+psycopg://localhost/postgres",
                     "mysql": "mysql+pymysql://localhost/mysql", "sqlite": "sqlite:///unused.db"}[backend])


#: Called once the backup and what the target holds are known, before anything is touched: it may refuse
#: (raise) or prepare (a safety backup), and returns notes for the result.
RestoreGate = Callable[[Manifest, list[str]], list[str]]


def restore_backup(storage: Storage, backup_id: str, target: URL, settings: BackupSettings, *,
                   replace: bool = False, owners: bool = True, gate: RestoreGate | None = None,
                   source: URL | None = None, on_progress: ProgressFn | None = None) -> RestoreResult:
    """Restore ``backup_id`` into ``target``, checked against the manifest while it streams in.

    ``latest`` is the newest backup of ``source`` (the project's database: a copy is restored from it),
    else of ``target``.
    """
    started = time.monotonic()
    dumper = dumper_for(target, settings)
    of = source or target
    manifest, _, dump_name = catalog.find(storage, backup_id,
                                          database=(backend_of(of), dumper_for(of, settings).database_name))
    if backend_of(target) != manifest.backend:
        raise BackupConfigError(
            f"{manifest.id} is a {manifest.backend} backup; {mask_url(target)} is a {backend_of(target)} database.",
            "A dump restores only into the kind of database it came from.",
            f"Pass --to with a {manifest.backend} URL.",
        )
    dumper.for_archive(manifest.tools)
    notes: list[str] = []
    exists = dumper.target_exists(target)
    replaced = dumper.target_tables(target) if exists else []
    if replaced and not replace:
        shown = ", ".join(replaced[:12]) + (f" and {len(replaced) - 12} more" if len(replaced) > 12 else "")
        raise RestoreRefused(
            f"{mask_url(target)} is not empty: it has {len(replaced)} table(s) ({shown}).",
            "Restoring over it would replace every one of them, and their data, with the backup's.",
            "To replace them, run the restore again with --replace. To keep them, restore into another "
            "database with --to URL (a database that does not exist yet is created).",
        )
    if gate is not None:
        notes += gate(manifest, replaced)
    atomic = dumper.replacer(target, owners=owners) if replaced else None
    # Read it once before touching the target: a changed or unreadable object must not replace anything.
    # When the target cannot be replaced all or nothing (MySQL commits each DDL statement), the backup is
    # first restored into a throwaway database on the target's server: a dump that does not restore
    # there never empties the target.
    # Where the server can swap whole tables atomically (MySQL's RENAME TABLE), the rehearsal IS the restore:
    # the throwaway database's checked tables replace the target's in one statement.
    rehearse = bool(replaced) and atomic is None and manifest.backend != "sqlite" and manifest.tables is not None
    swapped: list[str | None] = []

    def swap(staging: URL) -> None:
        swapped.append(dumper.swap_in(staging, target))

    try:
        checked = verify_stored(storage, dump_name, manifest.id, dumper, size=manifest.size, sha256=manifest.sha256,
                                level="restore" if rehearse else "checksum", source_stats=manifest.tables,
                                scratch_server=target if rehearse else None, on_progress=on_progress,
                                then=swap if rehearse else None)
    except (VerificationFailed, RestoreFailed) as exc:
        exc.why = "It did not restore into a throwaway database, so the target was not touched."
        raise
    except SafemigrateError as exc:  # no throwaway database could be made here: the checksum pass only
        if not rehearse:
            raise
        notes.append(f"Could not rehearse the restore in a throwaway database ({exc.what}); restored directly.")
        checked = verify_stored(storage, dump_name, manifest.id, dumper, size=manifest.size, sha256=manifest.sha256,
                                level="checksum", on_progress=on_progress)
    if swapped and swapped[0] is None:
        notes.append("Restored into a throwaway database on the target's server, checked against the manifest, "
                     "then swapped in with one RENAME TABLE: the target changed all at once.")
        notes.append(f"Replaced {len(replaced)} table(s): {', '.join(replaced)}.")
        return RestoreResult(id=manifest.id, target=mask_url(target), created_database=False, replaced=replaced,
                             duration_s=round(time.monotonic() - started, 2), notes=notes)
    if rehearse and checked.ok:
        notes.append("Rehearsed in a throwaway database on the target's server before the target was emptied"
                     + (f" (not swapped in: {swapped[0]})." if swapped else "."))
    if not checked.ok:
        failed = "; ".join(f"{c.name}: {c.message.rstrip('.')}" for c in checked.checks if not c.ok)
        raise VerificationFailed(
            f"The stored backup {manifest.id} does not match its manifest: {failed}.",
            "Restoring it could load corrupt or partial data; the target was not touched.",
            "Restore another backup (see `safemigrate backup list`).",
        )
    if not exists:
        dumper.create_target(target)
    elif replaced and atomic is None:
        dumper.empty_target(target)
    if replaced:
        notes.append(f"Replaced {len(replaced)} table(s): {', '.join(replaced)}.")
    location = storage.location(dump_name)
    sinks = [atomic or dumper.restorer(target, owners=owners)]
    try:
        with storage.reading(dump_name) as handle:
            _, _, rejected = read_back(handle, sinks, on_progress=on_progress, phase="restore",
                                       storage_error=lambda exc: storage.error(exc, f"read {location}"))
        if rejected:
            raise rejected[0]
    except RestoreFailed as exc:
        if replaced and atomic is None:
            exc.details = "\n".join(filter(None, [exc.details, "The target's previous tables were dropped before the "
                                                  "restore started."]))
        raise
    return RestoreResult(id=manifest.id, target=mask_url(target), created_database=not exists, replaced=replaced,
                         duration_s=round(time.monotonic() - started, 2), notes=notes)
