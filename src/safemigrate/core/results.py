"""Plain result data returned by the library and consumed by every renderer.

Nothing here prints. ``to_dict()`` gives the stable JSON shape documented in
docs/JSON.md; renderers in :mod:`safemigrate.render` only format these.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

JSON_SCHEMA_VERSION = 1


def _plain(value: Any) -> Any:
    if isinstance(value, Enum):
        return value.value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return value


class _Serialisable:
    kind = "result"

    def to_dict(self) -> dict[str, Any]:
        data = _plain(self)
        return {"schema_version": JSON_SCHEMA_VERSION, "kind": self.kind, **data}


def _object(name: str) -> str:
    name = name.strip().lower().replace('"', "").replace("`", "")
    return name.removeprefix("public.")


@dataclass(frozen=True)
class SignOff:
    """``allow(rule, target, reason=...)`` in a migration file."""

    rule: str
    target: str
    reason: str
    path: str | None = None
    line: int | None = None

    def covers(self, rule: str, target: str) -> bool:
        """Whether this sign-off allows ``rule`` on ``target``: that rule, that object, nothing else.

        Names compare without case and without the default schema (``public.users`` is ``users``);
        ``archive.users`` is another table.
        """
        return rule == self.rule and _object(self.target) == _object(target)


@dataclass(frozen=True)
class Statement:
    """One SQL statement a revision sent (or would send) to the database."""

    sql: str
    parameters: str | None = None  # repr of bound parameters, when any
    bookkeeping: bool = False  # Alembic's own version-table update, or a transaction marker
    line: int | None = None  # line of the revision file that sent it
    in_transaction: bool | None = None  # False inside Alembic's autocommit_block
    signoffs: list[SignOff] = field(default_factory=list)  # `with allow(...)` blocks around it
    operation: bool = False  # an Alembic operation observed in batch mode, rendered as SQL; not sent as such


@dataclass(frozen=True)
class RevisionInfo:
    """A revision as the code knows it."""

    revision: str
    down_revision: list[str]
    message: str
    path: str | None
    branch_labels: list[str] = field(default_factory=list)
    is_merge: bool = False
    is_head: bool = False


@dataclass(frozen=True)
class RevisionRun:
    """What one revision did while the throwaway database was upgraded."""

    revision: RevisionInfo
    statements: list[Statement]
    duration_ms: float
    direction: str = "upgrade"

    @property
    def sent(self) -> list[Statement]:
        """The revision's own statements as the database received them (no bookkeeping, no observed ops)."""
        return [s for s in self.statements if not s.bookkeeping and not s.operation]


@dataclass(frozen=True)
class Difference:
    """One difference between a database and the models (or another schema)."""

    kind: str  # add_table, remove_column, modify_type, ...
    table: str | None
    object: str | None  # column, index or constraint name
    description: str  # one readable line
    sql: list[str]  # DDL that would make the database match, for the target dialect
    code: str  # the same as Alembic operations


@dataclass
class Check:
    """One named check that passed or failed (the production preflight's, a backup verification's).

    ``fix`` is advice in words, empty when the check passed or when there is nothing to do but look.
    """

    name: str
    ok: bool
    message: str
    fix: str = ""


@dataclass(frozen=True)
class Problem:
    """A finding about the revision graph or the database's revision state."""

    code: str  # multiple_heads, unknown_revision, database_behind, edited_revision, ...
    message: str
    fix: str
    path: str | None = None  # the file it concerns, when it concerns one (relative to the repository)
    line: int | None = None


@dataclass
class CheckReport(_Serialisable):
    """Models vs. migrations: what a throwaway database at head lacks."""

    kind = "check"
    scratch: str  # masked URL or description of the throwaway database
    dialect: str  # dialect the DDL is rendered for
    heads: list[str]
    differences: list[Difference]
    problems: list[Problem]
    revisions_applied: int
    duration_ms: float
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.differences and not self.problems


@dataclass
class LiveReport(_Serialisable):
    """The live database vs. the models and vs. the revision it claims."""

    kind = "check-live"
    database: str  # masked URL
    dialect: str
    database_heads: list[str]
    code_heads: list[str]
    pending: list[str]
    problems: list[Problem]
    versus_models: list[Difference]  # live schema -> models
    out_of_band: list[Difference]  # live schema vs. what its revision should be (changed by hand)
    notes: list[str] = field(default_factory=list)
    # the live schema has these as the models do, but the revision's migrations do not create them
    # (a database built with create_all + stamp, or a migration nobody wrote): no DDL is proposed for them
    missing_in_migrations: list[Difference] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return (not self.problems and not self.versus_models and not self.out_of_band
                and not self.missing_in_migrations)


@dataclass
class StatusReport(_Serialisable):
    kind = "status"
    environment: str
    environment_assumed: bool
    database: str | None
    database_source: str
    database_heads: list[str] | None
    code_heads: list[str]
    pending: list[str]
    problems: list[Problem]
    drift: str  # the one-line verdict
    differences: int

    @property
    def ok(self) -> bool:
        return not self.problems and not self.pending and self.differences == 0


@dataclass
class ReviewReport(_Serialisable):
    kind = "review"
    mode: str  # captured | offline
    dialect: str
    range: str
    revisions: list[RevisionRun]
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return True


@dataclass
class InitReport(_Serialisable):
    kind = "init"
    root: str
    adopted: bool  # True: an existing Alembic setup was adopted
    script_location: str
    written: list[str]
    snippet: str | None  # what to paste into an existing env.py
    settings: dict[str, Any]
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return True
