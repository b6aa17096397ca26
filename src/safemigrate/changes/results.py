"""What the change operations return: plain data that every renderer consumes."""

from __future__ import annotations

from dataclasses import dataclass, field

from safemigrate.core.results import _Serialisable


@dataclass
class ChangeWritten(_Serialisable):
    """``safemigrate change rename-column|drop-column|set-not-null`` (or ``change contract``)."""

    kind = "change-written"
    name: str
    change_kind: str
    description: str
    expand_revision: str
    contract_revision: str | None = None
    files: list[str] = field(default_factory=list)
    plan_file: str = ""
    steps: list[str] = field(default_factory=list)  # the model at each of the three deploys


@dataclass
class BackfillReport(_Serialisable):
    """``safemigrate change backfill NAME``: what this run wrote, and the verification."""

    kind = "change-backfill"
    name: str
    phase: str
    resumed_after: object | None  # the checkpointed key this run started after (None: from the start)
    batches: int  # batches of this run
    rows_written: int  # rows of this run that needed it
    rows_scanned: int
    last_key: object | None
    batch_size: int  # the size the last batch used (adapted to stay under the target duration)
    slowest_batch_ms: float
    duration_ms: float
    remaining: int  # rows where old and new disagree after the run (0: verified)
    verified: bool
    cancelled: int = 0  # batches over their time, cancelled and redone smaller (PostgreSQL's statement_timeout)

    @property
    def ok(self) -> bool:
        return self.verified


@dataclass
class ChangeState(_Serialisable):
    """One change: its plan and its phase in this database (``change abort`` returns one)."""

    kind = "change-state"

    name: str
    change_kind: str
    description: str
    phase: str
    expand_revision: str
    contract_revision: str | None
    batches: int = 0
    rows_done: int = 0
    last_key: object | None = None
    verified_at: str | None = None
    next_step: str = ""


@dataclass
class ChangeStatusReport(_Serialisable):
    """``safemigrate change status``: every change of the project and its phase in the database."""

    kind = "change-status"
    database: str  # masked URL
    changes: list[ChangeState] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return True
