"""One exception hierarchy; each class carries its documented exit code.

Every message has three parts: what happened, why it matters, what to do.
The CLI prints them and exits with ``exit_code``; nothing else is shown
(no traceback) for these expected failures.
"""

from __future__ import annotations

from .urls import redact

#: Exit codes used by every command (documented in the README).
EXIT_OK = 0
EXIT_FINDINGS = 1
EXIT_USAGE = 2
EXIT_DATABASE = 3


class SafemigrateError(Exception):
    """Base class: an expected failure with a message meant for a person."""

    exit_code = EXIT_USAGE
    title = "safemigrate failed"

    def __init__(self, what: str, why: str = "", fix: str = "", *, details: str = ""):
        self.what = redact(what)
        self.why = redact(why)
        self.fix = redact(fix)
        self.details = redact(details)
        super().__init__(self.what)

    def __str__(self) -> str:
        # What a caller that only prints the exception (Alembic's CLI, a log line) shows.
        parts = [self.what]
        if self.why:
            parts.append(f"Why: {self.why}")
        if self.fix:
            parts.append(f"What to do: {self.fix}")
        return "\n".join(parts)

    def as_dict(self) -> dict[str, object]:
        return {
            "error": type(self).__name__,
            "exit_code": self.exit_code,
            "what": self.what,
            "why": self.why,
            "fix": self.fix,
            "details": self.details,
        }


class ConfigError(SafemigrateError):
    """Missing or malformed configuration, or a project safemigrate cannot use."""

    exit_code = EXIT_USAGE
    title = "Configuration error"


class UsageError(SafemigrateError):
    """A command was given arguments that cannot work (bad revision range...)."""

    exit_code = EXIT_USAGE
    title = "Usage error"


class MetadataError(ConfigError):
    """The models' MetaData could not be imported."""

    title = "Models could not be loaded"


class EnvPyError(ConfigError):
    """The project's env.py cannot be driven by safemigrate."""

    title = "env.py cannot be driven"


class RevisionGraphError(ConfigError):
    """The migration history is unusable (empty, unknown revision, bad range)."""

    title = "Migration history problem"


class DatabaseUnreachable(SafemigrateError):
    """A database could not be reached or refused the credentials."""

    exit_code = EXIT_DATABASE
    title = "Database unreachable"


class MigrationFailed(SafemigrateError):
    """A migration file failed to load or to run."""

    exit_code = EXIT_DATABASE
    title = "Migration failed"

    def __init__(self, what: str, why: str = "", fix: str = "", *, details: str = "",
                 revision: str | None = None, path: str | None = None, line: int | None = None):
        super().__init__(what, why, fix, details=details)
        self.revision = revision
        self.path = path
        self.line = line
        self.original: BaseException | None = None  # the exception the migration raised
        self.statements: list = []  # what the failing revision had sent before it failed

    def as_dict(self) -> dict[str, object]:
        data = super().as_dict()
        data.update(revision=self.revision, path=self.path, line=self.line)
        return data
