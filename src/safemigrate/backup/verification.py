"""Verification: re-read a stored dump once; size, sha256, readability, and optionally a real restore.

``checksum``: the object is read back from storage; its size and sha256 must
equal what was written (or what the manifest says), and the dump tool must
be able to read it (``pg_restore --list``; the ``-- Dump completed`` trailer of
a MySQL dump; SQLite's ``quick_check``).

``restore``: the same pass restores the dump into a throwaway database on a
server of the same kind (``scratch_url`` when it names one, else the source's
own server), whose tables, columns and row counts must equal the source's.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy.engine import URL

from safemigrate.backup.dumpers import Dumper
from safemigrate.backup.pump import ProgressFn, read_back
from safemigrate.backup.results import TableStats, VerifyResult
from safemigrate.backup.stats import compare, missing_data
from safemigrate.backup.storage import Storage
from safemigrate.core.results import Check
from safemigrate.core.urls import backend_of
from safemigrate.harness.scratch import scratch_database


def restore_server(dumper: Dumper, scratch_server: URL | None) -> URL | None:
    """Where the throwaway database for a restore check is created."""
    if dumper.backend == "sqlite":
        return None
    if scratch_server is not None and backend_of(scratch_server) == dumper.backend:
        return scratch_server
    return dumper.url


def verify_stored(storage: Storage, dump_name: str, backup_id: str, dumper: Dumper, *, size: int, sha256: str,
                  level: str, source_stats: dict[str, TableStats] | None = None,
                  scratch_server: URL | None = None, on_progress: ProgressFn | None = None,
                  then: Callable[[URL], None] | None = None) -> VerifyResult:
    """Check a stored dump: its checksum and readability, and at level 'restore' a restore compared with
    ``source_stats``; ``then`` is called with the throwaway database's URL once that restore checked out,
    before the throwaway database is dropped (a restore swaps its tables in from there)."""
    result = VerifyResult(id=backup_id, location=storage.location(dump_name), level=level)
    if level == "restore":
        if source_stats is None:
            result.checks.append(Check(
                "restore", False, "its manifest records no tables, so a restore cannot be compared with it"))
            return result
        with scratch_database(restore_server(dumper, scratch_server)) as scratch:
            _read_pass(storage, dump_name, [dumper.reader(), dumper.restorer(scratch.url, owners=False)],
                       result, size, sha256, on_progress, "restored into a " + scratch.describe())
            _data_check(dumper, source_stats, result)
            if result.ok:
                restored = dumper.target_stats(scratch.url)
                schema, counts = compare(source_stats, restored)
                result.checks.append(Check(
                    "schema", not schema, "; ".join(schema[:10]) if schema else
                    f"{len(restored)} table(s) with the same columns"))
                rows = sum(t.rows or 0 for t in restored.values())
                if any(t.rows is None for t in source_stats.values()):
                    message = (f"not compared: the backup was verified by checksum when it was taken, so the "
                               f"source's row counts were not recorded ({rows} row(s) restored)")
                else:
                    message = f"every table has the source's row count ({rows} row(s) in all)"
                result.checks.append(Check("row counts", not counts, "; ".join(counts[:10]) or message))
            if result.ok and then is not None:
                then(scratch.url)
        return result
    _read_pass(storage, dump_name, [dumper.reader()], result, size, sha256, on_progress, "readable")
    _data_check(dumper, source_stats, result)
    return result


def _data_check(dumper: Dumper, source_stats: dict[str, TableStats] | None, result: VerifyResult) -> None:
    """A verified backup holds the data: every table that had rows has data in the dump."""
    dumped = dumper.data_tables
    if dumped is None or source_stats is None or not result.ok:
        return
    if not any(s.nonempty is not None or s.rows is not None for s in source_stats.values()):
        return  # a manifest of an earlier version: it does not say which tables had rows
    missing = missing_data(source_stats, dumped)
    with_rows = sum(1 for s in source_stats.values() if s.nonempty or (s.rows or 0) > 0)
    result.checks.append(Check(
        "data", not missing,
        f"table(s) with rows in the database have no data in the dump: {', '.join(missing[:10])}"
        + (f" and {len(missing) - 10} more" if len(missing) > 10 else "") if missing else
        f"every table that had rows ({with_rows}) has data in the dump"))


def _read_pass(storage: Storage, dump_name: str, sinks: list, result: VerifyResult, size: int, sha256: str,
               on_progress: ProgressFn | None, readable_message: str) -> None:
    location = storage.location(dump_name)
    with storage.reading(dump_name) as handle:
        got_size, got_sha, rejected = read_back(handle, sinks, on_progress=on_progress, phase="verify",
                                                storage_error=lambda exc: storage.error(exc, f"read {location}"))
    result.checks.append(Check(
        "stored size", got_size == size,
        f"{got_size} bytes" if got_size == size else f"{got_size} bytes stored, {size} expected"))
    result.checks.append(Check(
        "stored checksum", got_sha == sha256,
        f"sha256 {got_sha[:16]}…" if got_sha == sha256 else
        f"sha256 {got_sha[:16]}… stored, {sha256[:16]}… expected: the object changed after it was written"))
    failures = [exc.what.rstrip(".") for exc in rejected]
    result.checks.append(Check("readable", not failures, "; ".join(failures) or readable_message))
