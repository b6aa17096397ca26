"""Plain data shared by the engine, the rules and the reporters."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum


class Severity(str, Enum):
    ERROR = "error"
    WARNING = "warning"


class Category(str, Enum):
    DESTRUCTIVE = "destructive"  # loses data or breaks running code: blocked at run time
    LOCKING = "locking"  # takes a long or strong lock, or rewrites/scans a table


@dataclass(frozen=True)
class Violation:
    """What a rule returns: the problem, in the user's names."""

    message: str  # the consequence, one sentence naming the table/column
    help: str  # the safe alternative, in words
    target: str  # the object concerned, "table" or "table.column" (lower case): sign-offs match it
    fix: str | None = None  # paste-ready Alembic code with the user's names, when there is one


@dataclass
class Context:
    """What a rule may know about where a statement runs."""

    dialect: str = "postgresql"
    pg_version: int = 15
    revision: str | None = None
    created_tables: set[str] = field(default_factory=set)  # created earlier in this revision
    # views, sequences and schemas created earlier in this revision, apart from the tables: a write
    # through a new view still reaches tables that are not new
    created_views: set[str] = field(default_factory=set)
    created_sequences: set[str] = field(default_factory=set)
    created_schemas: set[str] = field(default_factory=set)
    in_transaction: bool = True
    lock_timeout_set: bool = False  # the runner (or an earlier SET) set lock_timeout

    def is_new_table(self, name: str | None) -> bool:
        return _named(name, self.created_tables)

    def is_new_view(self, name: str | None) -> bool:
        return _named(name, self.created_views)

    def is_new_sequence(self, name: str | None) -> bool:
        return _named(name, self.created_sequences)

    def is_new_schema(self, name: str | None) -> bool:
        return bool(name) and str(name).lower() in self.created_schemas


def _named(name: str | None, names: set[str]) -> bool:
    """Whether ``name`` (``schema.name`` or ``name``) is one of ``names``, without case."""
    if not name:
        return False
    name = name.lower()
    return name in names or name.rsplit(".", 1)[-1] in names


@dataclass(frozen=True)
class Finding:
    """A violation placed in a revision: what reporters format."""

    rule: str
    severity: Severity
    category: Category
    message: str
    help: str
    target: str
    statement: str
    fix: str | None = None
    revision: str | None = None
    path: str | None = None
    line: int | None = None
    signed_off: str | None = None  # the reason of the sign-off that allows it, if any
