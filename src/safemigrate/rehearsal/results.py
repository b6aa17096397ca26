"""What a rehearsal measured: plain data for every renderer (JSON shape in docs/JSON.md)."""

from __future__ import annotations

from dataclasses import dataclass, field

from safemigrate.config.rehearsal import Budgets
from safemigrate.core.results import _Serialisable
from safemigrate.harness.measure import LockTaken
from safemigrate.rehearsal.stalls import Stall

#: Table lock modes as people write them (pg_locks says ShareLock, the documentation SHARE).
MODE_NAMES = {
    "AccessShareLock": "ACCESS SHARE", "RowShareLock": "ROW SHARE", "RowExclusiveLock": "ROW EXCLUSIVE",
    "ShareUpdateExclusiveLock": "SHARE UPDATE EXCLUSIVE", "ShareLock": "SHARE",
    "ShareRowExclusiveLock": "SHARE ROW EXCLUSIVE", "ExclusiveLock": "EXCLUSIVE",
    "AccessExclusiveLock": "ACCESS EXCLUSIVE",
}


@dataclass(frozen=True)
class Lock:
    relation: str
    mode: str  # ACCESS EXCLUSIVE, SHARE...

    @classmethod
    def of(cls, taken: LockTaken) -> Lock:
        return cls(taken.relation, MODE_NAMES.get(taken.mode, taken.mode))


@dataclass(frozen=True)
class BlockerReport:
    """``--blocker``: a session held the statement's tables (ACCESS SHARE) first; what that cost."""

    tables: list[str]
    held_ms: float | None  # how long the blocking session held them (None: it could not take them)
    attempts: int  # attempts of the statement: 1 it queued until it got its locks; more, it hit lock_timeout
    lock_waits_ms: list[float]  # each attempt that gave up: how long it queued first
    lock_timeout_ms: int  # the configured lock_timeout the rehearsal ran with (0: none)
    gave_up: bool = False  # every retry hit lock_timeout: `safemigrate migrate` would stop here
    error: str | None = None  # why the blocking session could not hold the tables


@dataclass(frozen=True)
class MeasuredRow:
    """One statement of a revision, with what it cost the application."""

    revision: str
    sql: str
    locks: list[Lock]  # the table locks it took (on tables that existed before it)
    locks_sampled: bool  # sent outside a transaction: its locks were sampled while it ran (every 10 ms)
    holding: list[Lock] | None  # every table lock its transaction held after it (earlier statements' too)
    held_ms: float | None  # from its start until its locks were released (its transaction ended)
    duration_ms: float
    wal_bytes: int | None  # WAL written while it ran (None: not read)
    rewrite: bool  # a table it touched got a new relfilenode: every row was written again
    rewritten: list[str]
    writer_stall_ms: Stall
    reader_stall_ms: Stall
    in_transaction: bool
    exceeded: list[str] = field(default_factory=list)  # the budgets it broke, in words
    blocker: BlockerReport | None = None  # --blocker: the stalls above include its lock-queue waits

    @property
    def verdict(self) -> str:
        if self.blocker is not None and self.blocker.gave_up:
            return "lock timeout"
        return "over budget" if self.exceeded else "ok"


@dataclass(frozen=True)
class CopyInfo:
    method: str  # template | from-url | backup | synthetic
    description: str  # which database (masked), or the synthetic fill
    dropped: bool  # the copy was dropped afterwards (a --from-url database is the user's and is kept)
    backup_id: str | None = None  # --backup: the backup restored into the copy


@dataclass(frozen=True)
class TableFill:
    table: str
    rows: int  # rows inserted
    seconds: float


@dataclass
class RehearsalReport(_Serialisable):
    kind = "rehearsal"
    copy: CopyInfo
    revisions: list[str]
    budgets: Budgets
    statements: list[MeasuredRow] = field(default_factory=list)
    probed_tables: list[str] = field(default_factory=list)
    probe_interval_ms: float = 0.0
    fill: list[TableFill] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    total_ms: float = 0.0
    blocker_ms: int | None = None  # --blocker: how long a session held each statement's tables first
    recorded: str | None = None  # require_rehearsal: where this passing rehearsal was recorded (or why not)

    @property
    def ok(self) -> bool:
        return not any(row.exceeded or row.verdict != "ok" for row in self.statements)

    def to_dict(self) -> dict[str, object]:
        data = super().to_dict()
        data["ok"] = self.ok
        for row, plain in zip(self.statements, data["statements"], strict=True):
            plain["verdict"] = row.verdict
        return data
