"""Taking a backup: dump → storage (streamed), verify, and only then the manifest.

The order is what makes a backup trustworthy. The dump is streamed to its
object while its size and sha256 are computed; the object is then read back
and checked; the manifest is written last. A dump without a manifest is
incomplete by definition, and on any failure the partial object is removed
(best effort: when the storage itself failed, the error says what to delete).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy.engine import URL

from safemigrate._version import __version__
from safemigrate.backup import catalog
from safemigrate.backup.dumpers import dumper_for
from safemigrate.backup.pump import ProgressFn, pump
from safemigrate.backup.results import MANIFEST_SUFFIX, BackupResult, Manifest
from safemigrate.backup.storage import Storage
from safemigrate.backup.verification import verify_stored
from safemigrate.config.backup import BackupSettings, render_name
from safemigrate.core.errors import BackupConfigError, SafemigrateError, StorageError, VerificationFailed
from safemigrate.core.secrets import mask_url

_MIB = 1 << 20


def create_backup(url: URL, settings: BackupSettings, *, environment: str, destination: str | None = None,
                  from_rev: str | None = None, to_rev: str | None = None, verify: str | None = None,
                  scratch_server: URL | None = None, on_progress: ProgressFn | None = None) -> BackupResult:
    """Stream a dump of ``url`` to the destination, verify it, write its manifest; raise on any failure."""
    dest = destination or settings.url
    if not dest:
        raise BackupConfigError(
            "No backup destination: [tool.safemigrate.backup] has no url and --dest was not given.",
            "safemigrate needs to know where to stream the dump.",
            "Set url = 's3://bucket/folder' (or a local path) under [tool.safemigrate.backup], or pass --dest URL.",
        )
    began = time.monotonic()
    level = verify or settings.verify
    # The storage client (s3fs and botocore load slowly) is set up while the database is looked at.
    storage_ready = _Background(lambda: _writable_storage(dest, settings))
    dumper = dumper_for(url, settings)
    dumper.prepare()
    storage = storage_ready.result()
    started_at = datetime.now(UTC)
    notes = list(dumper.notes)
    with dumper.snapshot() as snapshot:
        revision = snapshot.revision or from_rev
        if from_rev and snapshot.revision and from_rev != snapshot.revision:
            notes.append(f"The database was at {snapshot.revision} when dumped ({from_rev} was expected).")
        backup_id = _unique_name(storage, settings.name, dumper.extension, url, database=dumper.database_name,
                                 environment=environment, timestamp=started_at.strftime("%Y%m%dT%H%M%SZ"),
                                 from_rev=revision or "base", to_rev=to_rev or "manual")
        dump_name = backup_id + dumper.extension
        handle = storage.open_write(dump_name, snapshot.size_hint)
        unfinished = True  # until the storage has the whole object
        location = storage.location(dump_name)

        def write(chunk: bytes) -> None:
            try:
                handle.write(chunk)
            except Exception as exc:
                raise storage.error(exc, f"write {location}") from None

        try:
            started = time.monotonic()
            size, sha256 = pump(dumper.source(snapshot), write, buffer_bytes=settings.buffer_mb * _MIB,
                                on_progress=on_progress, phase="dump")
            dumped = time.monotonic() - started
            storage.finish_write(handle, dump_name)
            unfinished = False
            # The schema is always recorded; rows are counted (a scan of every table) only to verify by restore.
            source_stats = snapshot.stats(level == "restore")
        except BaseException as exc:
            _cleanup(exc, storage.abandon(handle if unfinished else None, dump_name), location)
            raise
    finished_at = datetime.now(UTC)
    try:
        result = verify_stored(storage, dump_name, backup_id, dumper, size=size, sha256=sha256, level=level,
                               source_stats=source_stats, scratch_server=scratch_server, on_progress=on_progress)
        if not result.ok:
            failed = [c for c in result.checks if not c.ok]
            raise VerificationFailed(
                f"The backup {backup_id} failed verification: "
                + "; ".join(f"{c.name}: {c.message.rstrip('.')}" for c in failed),
                "A backup that does not read back exactly as written, or does not restore, cannot be relied on.",
                "Run the backup again; if it keeps failing, check the storage (and for a restore mismatch, "
                "whether the database was being written to heavily).",
            )
        manifest = Manifest(
            id=backup_id, dump=dump_name.rsplit("/", 1)[-1], format=dumper.format, backend=dumper.backend,
            database=mask_url(url), database_name=dumper.database_name, server_version=str(dumper.server_version),
            environment=environment, from_revision=revision, to_revision=to_rev, size=size, sha256=sha256,
            tools={"safemigrate": __version__, **dumper.tools}, started_at=started_at.isoformat(),
            finished_at=finished_at.isoformat(), verification=level, tables=source_stats,
        )
        storage.write_text(backup_id + MANIFEST_SUFFIX, manifest.to_json())
    except BaseException as exc:
        removed = storage.delete(backup_id + MANIFEST_SUFFIX) and storage.delete(dump_name)  # manifest first
        _cleanup(exc, removed, location)
        raise
    pruned: list[str] = []
    if settings.keep:
        try:
            pruned = catalog.prune(storage, keep=settings.keep, database_name=dumper.database_name,
                                   environment=environment).deleted
        except SafemigrateError as exc:
            notes.append(f"Retention (keep = {settings.keep}) could not prune old backups: {exc.what}")
    return BackupResult(
        id=backup_id, location=location, manifest_location=storage.location(backup_id + MANIFEST_SUFFIX),
        manifest=manifest, verify=result, duration_s=round(time.monotonic() - began, 2),
        prepare_s=round(started - began, 2), dump_s=round(dumped, 2),
        rate_mib_s=round(size / _MIB / dumped, 1) if dumped > 0 else 0.0, pruned=pruned, notes=notes,
    )


def _writable_storage(dest: str, settings: BackupSettings) -> Storage:
    storage = Storage(dest, settings.storage_options, timeout=settings.storage_timeout)
    storage.check_writable()
    return storage


class _Background:
    """Runs one function in a daemon thread; ``result()`` waits and re-raises its exception."""

    def __init__(self, fn: Callable[[], Storage]):
        self._value: Storage | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(fn,), name="safemigrate-storage", daemon=True)
        self._thread.start()

    def _run(self, fn: Callable[[], Storage]) -> None:
        try:
            self._value = fn()
        except BaseException as exc:
            self._error = exc

    def result(self) -> Storage:
        self._thread.join()
        if self._error is not None:
            raise self._error
        assert self._value is not None
        return self._value


def _unique_name(storage: Storage, template: str, extension: str, url: URL, **values: str) -> str:
    name = render_name(template, **values)
    if url.password and len(str(url.password)) >= 3:
        name = name.replace(str(url.password), "_")  # a password never names a backup, however it got there
    candidate, n = name, 1
    while storage.exists(candidate + extension) or storage.exists(candidate + MANIFEST_SUFFIX):
        n += 1
        candidate = f"{name}-{n}"
    return candidate


def _cleanup(exc: BaseException, removed: bool, location: str) -> None:
    """Say what happened to the partial dump in the error's details."""
    if not isinstance(exc, SafemigrateError):
        return
    if removed:
        note = f"The partial dump {location} was removed; no manifest was written."
    else:
        note = (f"The partial dump {location} could not be removed (the storage failed too). It has no manifest, "
                "so safemigrate never treats it as a backup; delete it by hand or with `safemigrate backup prune`.")
    exc.details = "\n".join(filter(None, [note, exc.details]))
    if isinstance(exc, StorageError) and not removed:
        exc.fix = exc.fix + " Then remove the partial dump named below."
