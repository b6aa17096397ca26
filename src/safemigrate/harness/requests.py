"""What the harness is asked to do with a project's env.py, and what it reports back.

These are the typed seam between the operations (checks, runner, CI) and
the process that runs env.py: plain data, picklable, so that env.py can run
in a process of its own (see :mod:`safemigrate.harness.session`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from sqlalchemy import MetaData

from safemigrate.core.errors import SafemigrateError
from safemigrate.core.results import Difference, RevisionRun
from safemigrate.guard.enforce.autogen import Withheld
from safemigrate.harness.measure import MeasuredStatement, MeasureSpec
from safemigrate.project.history import RevisionRecord

RunKind = Literal["upgrade", "downgrade", "read", "offline"]


@dataclass(frozen=True)
class Reads:
    """What to read after the steps, through env.py's own connection and options."""

    heads: bool = False  # the database's heads (its version table) after the run
    server_version: bool = False  # the server's major version
    models: str | None = None  # compare with the models; the fix DDL rendered for this dialect
    reflect: bool = False  # the schema as a MetaData (version and ledger tables left out, env.py's filters applied)
    against: MetaData | None = None  # compare with this schema (the reflection of another database)
    against_label: str = ""  # what ``against`` stands for in the descriptions ("revision abc123")


@dataclass(frozen=True)
class LedgerRows:
    """Write a ledger row inside each applied revision's transaction, before its version bump."""

    digests: dict[str, str]  # revision -> checksum of its file
    environment: str
    backup_id: str | None = None


@dataclass(frozen=True)
class EnvRunRequest:
    """One run of env.py, as ``alembic upgrade`` / ``downgrade`` / ``current`` / ``--sql`` would do."""

    kind: RunKind
    target: str | None = None  # revision to upgrade or downgrade to
    reads: Reads = Reads()
    purpose: str = "build the throwaway database"  # for messages: "safemigrate runs env.py to <purpose>"
    guard: bool = False  # a real run: unapproved destructive statements are refused
    baseline: bool = False  # run the configured baseline before revision 1 (a throwaway database)
    ledger: LedgerRows | None = None
    dialect: str | None = None  # offline runs: the dialect to render for
    measure: MeasureSpec | None = None  # a rehearsal: time each statement, read its locks (harness/measure.py)


@dataclass(frozen=True)
class GenerateRequest:
    """``alembic revision --autogenerate`` with safemigrate's guard on the generated operations."""

    message: str


@dataclass(frozen=True)
class InventoryRequest:
    """The migration history as Alembic loads it (the revision files are imported where env.py runs)."""


@dataclass(frozen=True)
class Inventory:
    script_location: str
    revisions: tuple[RevisionRecord, ...]


@dataclass
class EnvRunResult:
    """What one run of env.py did and read."""

    runs: list[RevisionRun]
    heads_before: list[str]
    heads: list[str] | None = None
    server_version: int | None = None
    differences: list[Difference] | None = None  # vs. the models (Reads.models)
    comparison_error: str | None = None  # the comparison with the models failed: lint and review still hold
    comparison_traceback: str = ""  # where it failed (the details of the error, for a report)
    reflected: MetaData | None = None
    against: list[Difference] | None = None
    version_table: str = "alembic_version"
    version_table_schema: str | None = None
    own_transactions: bool = False  # each revision of a run commits on its own (transaction_per_migration)
    output: str = ""  # what env.py and the migrations printed or logged (passwords masked)
    notes: list[str] = field(default_factory=list)
    measured: list[MeasuredStatement] | None = None  # EnvRunRequest.measure: each statement, measured


@dataclass
class GenerateResult:
    paths: list[str]  # absolute paths of the written revision files
    revisions: list[str]
    withheld: list[Withheld]
    output: str = ""


class RestartWith(Exception):
    """env.py needs another driver: run the request again in a fresh process, on ``url``.

    Not in the same process: the application may have read the first URL when it was imported
    (a settings module), and would keep it.
    """

    def __init__(self, url: str, failure: SafemigrateError):
        super().__init__(url, failure)
        self.url = url
        self.failure = failure  # what to report if that URL was tried already
