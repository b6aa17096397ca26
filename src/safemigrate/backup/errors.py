"""Backup failures: each says what happened, why it matters and what to do.

Exit codes (docs/BACKUPS.md): 2 for configuration and usage (a bad
``[tool.safemigrate.backup]``, a dump tool that is missing or does not fit the
server, an unknown backup id, a restore that needs ``--replace``); 3 when the
storage or the database cannot be reached or fails during the backup, and
when a backup cannot be verified.
"""

from __future__ import annotations

from ..errors import EXIT_DATABASE, EXIT_USAGE, ConfigError, SafemigrateError


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
