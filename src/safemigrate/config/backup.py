"""``[tool.safemigrate.backup]``: where backups go, how they are named, kept and required.

```toml
[tool.safemigrate.backup]
url = "s3://acme-backups/shop"          # any fsspec URL: a local path, s3://, gs://, az://...
name = "{database}-{environment}-{timestamp}-{from_rev}-{to_rev}"
keep = 14                               # per database and environment
required_in = ["production"]            # migrate takes a verified backup first in these
verify = "checksum"                     # or "restore": restore into a throwaway database and compare
storage_timeout = 60                    # seconds one storage call may hang (S3: connect and read timeouts)
```

Credentials never come from this table: the storage library reads them from
its usual environment and files (``AWS_*``, ``~/.aws``, Google's application
default credentials...). Importing this module is cheap: config.settings validates
the table through it at load time.
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass, field
from typing import Any

from safemigrate.config.suggest import did_you_mean
from safemigrate.core.errors import BackupConfigError

DEFAULT_NAME = "{database}-{environment}-{timestamp}-{from_rev}-{to_rev}"
PLACEHOLDERS = ("database", "environment", "timestamp", "from_rev", "to_rev")
VERIFY_LEVELS = ("checksum", "restore")
ENVIRONMENTS = ("development", "test", "staging", "production")
#: Tool paths that may be configured; anything else is looked up on PATH (and /usr/lib/postgresql/*/bin).
TOOL_KEYS = ("pg_dump", "pg_restore", "mysql_dump", "mysql_client")
_SECRET_OPTION = re.compile(r"secret|password|token|key$|credential|sas", re.IGNORECASE)

_TYPES: dict[str, type | tuple[type, ...]] = {
    "url": str, "name": str, "keep": int, "required_in": list, "verify": str, "buffer_mb": int,
    "storage_options": dict, "storage_timeout": (int, float), **dict.fromkeys(TOOL_KEYS, str),
}


@dataclass(frozen=True)
class BackupSettings:
    """The validated ``[tool.safemigrate.backup]`` table."""

    url: str | None = None
    name: str = DEFAULT_NAME
    keep: int | None = None
    required_in: tuple[str, ...] = ("production",)
    verify: str = "checksum"
    buffer_mb: int = 16  # read-ahead between the dump tool and the storage, in MiB
    storage_options: dict[str, Any] = field(default_factory=dict)  # non-secret fsspec options (endpoint, region)
    storage_timeout: float = 60.0  # seconds a storage call may hang before the backup (and migrate) fails
    tools: dict[str, str] = field(default_factory=dict)  # pg_dump / pg_restore / mysql_dump / mysql_client paths

    @property
    def configured(self) -> bool:
        return bool(self.url)

    def required(self, environment: str) -> bool:
        return environment in self.required_in


def parse_backup_settings(table: dict[str, Any] | None) -> BackupSettings:
    """Validate the table; every mistake is a BackupConfigError (exit 2) naming the key."""
    table = dict(table or {})
    unknown = sorted(set(table) - set(_TYPES))
    if unknown:
        raise BackupConfigError(
            f"Unknown key(s) in [tool.safemigrate.backup]: {', '.join(unknown)}.",
            "A misspelt key would be silently ignored and its default used instead.",
            f"{did_you_mean(unknown, _TYPES)}Use only these keys: {', '.join(sorted(_TYPES))}.",
        )
    for key, value in table.items():
        expected = _TYPES[key]
        if not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
            kind = {str: "string", int: "integer", list: "array", dict: "table"}[expected]  # type: ignore[index]
            raise BackupConfigError(
                f"[tool.safemigrate.backup] {key} must be a {kind}, not {type(value).__name__} ({value!r}).",
                "safemigrate cannot guess what a value of the wrong kind means.",
                f"Write {key} as a TOML {kind}.",
            )
    name = table.get("name", DEFAULT_NAME)
    check_template(name)
    keep = table.get("keep")
    if keep is not None and keep < 1:
        raise BackupConfigError(
            f"[tool.safemigrate.backup] keep = {keep} keeps no backup at all.",
            "Retention deletes every backup beyond the newest `keep` ones.",
            "Set keep to 1 or more, or remove the key to keep every backup.",
        )
    required_in = table.get("required_in", ["production"])
    bad = [e for e in required_in if e not in ENVIRONMENTS]
    if bad:
        raise BackupConfigError(
            f"[tool.safemigrate.backup] required_in names unknown environment(s): {', '.join(map(str, bad))}.",
            "A backup policy for an environment that never occurs protects nothing.",
            f"Use the canonical names: {', '.join(ENVIRONMENTS)}.",
        )
    verify = table.get("verify", "checksum")
    if verify not in VERIFY_LEVELS:
        raise BackupConfigError(
            f"[tool.safemigrate.backup] verify = {verify!r} is not a verification level.",
            "Every backup is verified before it counts; the level says how thoroughly.",
            "Use 'checksum' (re-read from storage, sha256, size, readable) or 'restore' (also restore into a "
            "throwaway database and compare tables and row counts).",
        )
    buffer_mb = table.get("buffer_mb", 16)
    if not 1 <= buffer_mb <= 1024:
        raise BackupConfigError(
            f"[tool.safemigrate.backup] buffer_mb = {buffer_mb} is out of range.",
            "It is the memory used to keep the dump tool running while the storage is slow.",
            "Use a value between 1 and 1024 (MiB); 16 is the default.",
        )
    options = table.get("storage_options", {})
    secret = sorted(k for k in _flatten(options) if _SECRET_OPTION.search(k))
    if secret:
        raise BackupConfigError(
            f"[tool.safemigrate.backup] storage_options holds credential-like key(s): {', '.join(secret)}.",
            "pyproject.toml is committed to git: a credential written there leaks to everyone who can read it.",
            "Remove them and let the storage read its credentials from its usual place (for S3: AWS_ACCESS_KEY_ID "
            "and AWS_SECRET_ACCESS_KEY, ~/.aws/credentials or an instance role).",
        )
    timeout = table.get("storage_timeout", 60)
    if isinstance(timeout, bool) or not 1 <= timeout <= 3600:
        raise BackupConfigError(
            f"[tool.safemigrate.backup] storage_timeout = {timeout!r} is out of range.",
            "It bounds how long one call to the backup storage may hang; a hung storage would otherwise hold "
            "the migrator lock, and the deploy, forever.",
            "Use a number of seconds between 1 and 3600; 60 is the default.",
        )
    return BackupSettings(
        url=table.get("url"), name=name, keep=keep, required_in=tuple(required_in), verify=verify,
        buffer_mb=buffer_mb, storage_options=options, storage_timeout=float(timeout),
        tools={k: table[k] for k in TOOL_KEYS if k in table},
    )


def _flatten(options: dict[str, Any], prefix: str = "") -> list[str]:
    keys: list[str] = []
    for key, value in options.items():
        keys.append(f"{prefix}{key}")
        if isinstance(value, dict):
            keys.extend(_flatten(value, f"{prefix}{key}."))
    return keys


def check_template(template: str) -> None:
    try:
        fields = [f for _, f, spec, conv in string.Formatter().parse(template) if f is not None]
    except ValueError as exc:
        raise BackupConfigError(
            f"[tool.safemigrate.backup] name = {template!r} is not a valid template: {exc}.",
            "Backup names are built from this template.",
            "Use placeholders in braces, e.g. '{database}-{timestamp}'; write literal braces as '{{' and '}}'.",
        ) from None
    unknown = [f for f in fields if f not in PLACEHOLDERS]
    if unknown or not fields:
        raise BackupConfigError(
            f"[tool.safemigrate.backup] name = {template!r} uses unknown placeholder(s): "
            f"{', '.join(unknown) or '(none: every backup would get the same name)'}.",
            "Backup names are built from the database, the environment, the time and the revisions only "
            "(never from the URL, which may hold a password).",
            f"Use only {', '.join('{' + p + '}' for p in PLACEHOLDERS)}; include {{timestamp}} so names differ.",
        )
    if template.startswith("/") or ".." in template.split("/"):
        raise BackupConfigError(
            f"[tool.safemigrate.backup] name = {template!r} leaves the backup folder.",
            "A name is a path relative to the configured url.",
            "Use a relative name; '/' may separate sub-folders, e.g. '{environment}/{database}-{timestamp}'.",
        )


_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def render_name(template: str, **values: str | None) -> str:
    """The backup id: the template filled with values made safe for any storage."""
    safe = {k: (_UNSAFE.sub("_", v).strip("._") or "_") if v else "_" for k, v in values.items()}
    return template.format(**safe)
