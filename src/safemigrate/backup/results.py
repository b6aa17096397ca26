"""Plain data returned by the backup library: the manifest and one result per command.

The manifest is the JSON document written beside each dump, last, after the
dump was uploaded and verified: a dump without a manifest is incomplete.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from safemigrate.core.results import Check, _Serialisable

MANIFEST_SUFFIX = ".manifest.json"
MANIFEST_VERSION = 1


@dataclass(frozen=True)
class TableStats:
    columns: list[str]
    rows: int | None  # None: not counted (a backup verified by checksum only records the schema)
    nonempty: bool | None = None  # whether it has a row (cheap: one row read); None in older manifests


@dataclass
class Manifest:
    """What a backup holds and how to check it (never a password)."""

    id: str
    dump: str  # object name of the dump, relative to the backup folder
    format: str  # pg_dump-custom | mysql-sql-gzip | sqlite-gzip
    backend: str  # postgresql | mysql | sqlite
    database: str  # masked URL
    database_name: str
    server_version: str
    environment: str
    from_revision: str | None  # the database's revision when the dump was taken
    to_revision: str | None  # the revision about to be applied (None: a backup taken by hand)
    size: int
    sha256: str
    tools: dict[str, str]
    started_at: str  # ISO 8601, UTC
    finished_at: str
    verification: str  # checksum | restore
    tables: dict[str, TableStats] | None = None  # schema and row counts, when taken in the dump's snapshot
    manifest_version: int = MANIFEST_VERSION

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, text: str) -> Manifest:
        data: dict[str, Any] = json.loads(text)
        known = set(cls.__dataclass_fields__)
        data = {k: v for k, v in data.items() if k in known}
        if data.get("tables") is not None:
            data["tables"] = {name: TableStats(**stats) for name, stats in data["tables"].items()}
        return cls(**data)


@dataclass
class VerifyResult(_Serialisable):
    kind = "backup-verify"
    id: str
    location: str
    level: str  # checksum | restore
    # stored checksum | stored size | readable | data | restore | schema | row counts
    checks: list[Check] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)


@dataclass
class BackupResult(_Serialisable):
    """A complete, verified backup (its manifest is written)."""

    kind = "backup"
    id: str
    location: str  # the dump's URL
    manifest_location: str
    manifest: Manifest
    verify: VerifyResult
    duration_s: float  # the whole backup: preparing, dumping, verifying, writing the manifest
    prepare_s: float  # connecting, finding the dump tool, checking the storage, opening the snapshot
    dump_s: float  # streaming the dump to storage
    rate_mib_s: float  # dump size / dump_s
    pruned: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.verify.ok


@dataclass
class BackupEntry:
    id: str
    location: str
    complete: bool  # False: a dump without a manifest (a failed or running backup)
    backend: str | None = None
    database_name: str | None = None
    environment: str | None = None
    from_revision: str | None = None
    to_revision: str | None = None
    size: int | None = None
    finished_at: str | None = None  # ISO 8601; for incomplete ones, the object's modification time if known


@dataclass
class BackupList(_Serialisable):
    kind = "backup-list"
    location: str
    backups: list[BackupEntry]

    @property
    def ok(self) -> bool:
        return True


@dataclass
class RestoreResult(_Serialisable):
    kind = "backup-restore"
    id: str
    target: str  # masked URL
    created_database: bool
    replaced: list[str]  # tables that were there before and were replaced
    duration_s: float
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return True


@dataclass
class PruneResult(_Serialisable):
    kind = "backup-prune"
    location: str
    deleted: list[str]
    kept: list[str]
    incomplete_deleted: list[str] = field(default_factory=list)
    dry_run: bool = False

    @property
    def ok(self) -> bool:
        return True


@dataclass
class Progress:
    """Reported while bytes flow: what is happening and how fast."""

    phase: str  # dump | verify | restore
    bytes: int
    elapsed_s: float
    done: bool = False  # the phase's last report

    @property
    def rate(self) -> float:
        return self.bytes / self.elapsed_s if self.elapsed_s > 0 else 0.0
