"""Every exception safemigrate raises on purpose, each with its documented exit code.

Every message has three parts: what happened, why it matters, what to do.
The CLI prints them and exits with ``exit_code``; nothing else is shown
(no traceback) for these expected failures. This is the only module that
defines exit codes (the README's table lists them).
"""

from __future__ import annotations

from typing import Any

from safemigrate.core.secrets import redact

#: Exit codes used by every command (documented in the README).
EXIT_OK = 0
EXIT_FINDINGS = 1
EXIT_USAGE = 2
EXIT_DATABASE = 3
EXIT_INTERNAL = 4  # a bug in safemigrate: the CLI shows the traceback behind --debug


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

    def __reduce__(self) -> tuple[object, ...]:
        # Errors cross from the process that ran env.py to the one that reports them: keep every attribute.
        return (_rebuild, (type(self), dict(self.__dict__)))

    def as_dict(self) -> dict[str, object]:
        return {
            "error": type(self).__name__,
            "exit_code": self.exit_code,
            "what": self.what,
            "why": self.why,
            "fix": self.fix,
            "details": self.details,
        }


def _rebuild(cls: type[SafemigrateError], state: dict[str, object]) -> SafemigrateError:
    error = cls.__new__(cls)
    Exception.__init__(error, state.get("what", ""))
    error.__dict__.update(state)
    return error


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
        self.sqlstate: str | None = None  # the SQLSTATE of the database error the migration raised, if any
        self.lock_timeout = False  # it gave up waiting for a lock (lock_timeout / lock_wait_timeout)
        self.statements: list[Any] = []  # what the failing revision had sent before it failed (Statement)
        self.runs: list[Any] = []  # the revisions of the same run that completed before it (RevisionRun)

    def as_dict(self) -> dict[str, object]:
        data = super().as_dict()
        data.update(revision=self.revision, path=self.path, line=self.line)
        return data


class InternalError(SafemigrateError):
    """A bug in safemigrate (or in how it drives a project): reported with its traceback in the details."""

    exit_code = EXIT_INTERNAL
    title = "Internal error"


class DestructiveChangeBlocked(SafemigrateError):
    """A migration tried to destroy data without an explicit sign-off."""

    exit_code = EXIT_FINDINGS
    title = "Destructive change blocked"

    def __init__(self, what: str, why: str, fix: str, *, rule: str, revision: str | None, line: int | None):
        super().__init__(what, why, fix)
        self.rule = rule
        self.revision = revision
        self.line = line


class InterruptedRevision(SafemigrateError):
    """An earlier attempt at a revision committed some of its steps and never finished."""

    exit_code = EXIT_FINDINGS
    title = "Interrupted revision"


class LockTimeout(SafemigrateError):
    """Another migrator held the migrator lock for longer than the wait allowed."""

    exit_code = EXIT_DATABASE
    title = "Another migration is running"


class LockBlocked(SafemigrateError):
    """A revision could not get its table lock within lock_timeout, retries included."""

    exit_code = EXIT_DATABASE
    title = "Migration blocked by another session"


class SchemaNotCurrent(SafemigrateError):
    """The database is not at the code's head, or its schema breaks the models."""

    exit_code = EXIT_FINDINGS
    title = "Database schema not current"

    def __init__(self, what: str, why: str = "", fix: str = "", *, reason: str,
                 database_heads: list[str] | None = None, code_heads: list[str] | None = None,
                 pending: list[str] | None = None, differences: list[str] | None = None):
        super().__init__(what, why, fix, details="\n".join(differences or []))
        self.reason = reason  # behind | unknown_revision | never_migrated | multiple_heads | schema_differs
        self.database_heads = list(database_heads or [])
        self.code_heads = list(code_heads or [])
        self.pending = list(pending or [])
        self.differences = list(differences or [])

    def as_dict(self) -> dict[str, object]:
        data = super().as_dict()
        data.update(reason=self.reason, database_heads=self.database_heads, code_heads=self.code_heads,
                    pending=self.pending, differences=self.differences)
        return data


class GitError(SafemigrateError):
    """git is missing, the folder is not a repository, or a ref does not exist."""

    exit_code = EXIT_USAGE
    title = "git problem"


# -- backups (docs/BACKUPS.md): 2 for configuration and usage, 3 for storage, database and verification ----

class BackupError(SafemigrateError):
    """Base class of every backup failure."""

    exit_code = EXIT_DATABASE
    title = "Backup failed"


class BackupConfigError(ConfigError, BackupError):
    """``[tool.safemigrate.backup]`` is missing or malformed."""

    exit_code = EXIT_USAGE
    title = "Backup configuration error"


class DumpToolMissing(BackupConfigError):
    """No usable pg_dump / mariadb-dump / pg_restore was found."""

    title = "Dump tool not available"


class StorageError(BackupError):
    """The backup storage could not be reached, refused a write or failed mid-way."""

    exit_code = EXIT_DATABASE
    title = "Backup storage failed"


class DumpFailed(BackupError):
    """The dump tool (or the database behind it) failed before the dump was complete."""

    exit_code = EXIT_DATABASE
    title = "Dump failed"


class VerificationFailed(BackupError):
    """A stored backup does not match its manifest, cannot be read, or does not restore faithfully."""

    exit_code = EXIT_DATABASE
    title = "Backup verification failed"


class BackupNotFound(BackupError):
    """No complete backup has the given id."""

    exit_code = EXIT_USAGE
    title = "Backup not found"


class RestoreRefused(BackupError):
    """Restoring would overwrite data and ``--replace`` was not given."""

    exit_code = EXIT_USAGE
    title = "Restore refused"


class RestoreFailed(BackupError):
    """The restore tool failed."""

    exit_code = EXIT_DATABASE
    title = "Restore failed"


# -- rehearsals (safemigrate rehearse): 2 for what cannot be rehearsed, 3 for the copy that cannot be made -------

class RehearsalRefused(UsageError):
    """A rehearsal that must not or cannot run: the live database as the copy, SQLite, an unmeasured backend."""

    title = "Rehearsal refused"


class TemplateInUse(DatabaseUnreachable):
    """CREATE DATABASE ... TEMPLATE failed because other sessions are connected to the source database."""

    title = "Database cannot be copied"
