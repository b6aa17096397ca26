"""Project discovery and the ``[tool.safemigrate]`` configuration table."""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from safemigrate.config.backup import parse_backup_settings
from safemigrate.core.errors import ConfigError

PYPROJECT = "pyproject.toml"
URL_OVERRIDE_ENV = "SAFEMIGRATE_DATABASE_URL"
SCRATCH_URL_ENV = "SAFEMIGRATE_SCRATCH_URL"
_ALEMBIC_PLACEHOLDER_URL = "driver://user:pass@localhost/dbname"

#: Canonical environment names and the spellings accepted for each.
DEFAULT_ALIASES: dict[str, str] = {
    "development": "development", "dev": "development", "local": "development", "develop": "development",
    "test": "test", "testing": "test", "ci": "test",
    "staging": "staging", "stage": "staging", "preprod": "staging",
    "production": "production", "prod": "production", "live": "production",
}

_KNOWN_KEYS = {
    "metadata", "script_location", "alembic_ini", "database_url_env", "environment_env",
    "database_url", "scratch_url", "dialect", "compare_server_default", "environment_aliases",
    "start_after", "lock_timeout", "statement_timeout", "pg_version", "backup",
}


@dataclass(frozen=True)
class Settings:
    """The ``[tool.safemigrate]`` table with defaults applied."""

    root: Path
    metadata: str | None = None
    script_location: str = "migrations"
    alembic_ini: str | None = None
    database_url_env: str = "DATABASE_URL"
    environment_env: str = "APP_ENV"
    database_url: str | None = None
    scratch_url: str | None = None
    dialect: str | None = None
    compare_server_default: bool = True
    environment_aliases: dict[str, str] = field(default_factory=dict)
    start_after: str | None = None  # revisions up to this one are not linted
    lock_timeout: str = "5s"  # set by safemigrate's env.py helper on PostgreSQL ("0" turns it off)
    statement_timeout: str = "0"  # likewise; "0" (the default) means no limit
    pg_version: int | None = None  # PostgreSQL major version to lint for when no server is connected
    backup: dict[str, Any] = field(default_factory=dict)  # [tool.safemigrate.backup], validated by safemigrate.config.backup

    @property
    def script_path(self) -> Path:
        return (self.root / self.script_location).resolve()

    @property
    def ini_path(self) -> Path | None:
        if self.alembic_ini:
            return (self.root / self.alembic_ini).resolve()
        default = self.root / "alembic.ini"
        return default.resolve() if default.is_file() else None


@dataclass(frozen=True)
class Environment:
    """Which environment we run in, and how that was decided."""

    name: str  # development | test | staging | production
    raw: str | None  # the variable's value, or None when unset
    variable: str
    assumed: bool  # True when unset or unknown: treated as production

    @property
    def is_production_like(self) -> bool:
        return self.name in {"production", "staging"}

    def describe(self) -> str:
        if self.raw is None:
            return f"{self.name} ({self.variable} is unset: treated as production)"
        if self.assumed:
            return f"{self.name} ({self.variable}={self.raw!r} is not a known environment: treated as production)"
        return self.name if self.raw == self.name else f"{self.name} ({self.variable}={self.raw})"


def find_root(start: Path | str | None = None) -> Path:
    """The nearest folder at or above ``start`` holding a pyproject.toml."""
    here = Path(start or os.getcwd()).resolve()
    if here.is_file():
        here = here.parent
    for folder in (here, *here.parents):
        if (folder / PYPROJECT).is_file():
            return folder
    raise ConfigError(
        f"No {PYPROJECT} found in {here} or any folder above it.",
        "safemigrate reads its settings from [tool.safemigrate] in the project's pyproject.toml.",
        "Run `safemigrate init` in the project folder, or pass --project PATH.",
    )


def read_pyproject(root: Path) -> dict[str, Any]:
    path = root / PYPROJECT
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(
            f"{path} is not valid TOML: {exc}.",
            "safemigrate cannot read its settings from a file that does not parse.",
            "Fix the syntax at the position named above.",
        ) from exc
    except OSError as exc:
        raise ConfigError(f"{path} cannot be read: {exc.strerror}.", "", "Check the path and its permissions.") from exc


def load_settings(root: Path | str | None = None, *, require_table: bool = True) -> Settings:
    """Read ``[tool.safemigrate]`` from the project at or above ``root``."""
    project_root = find_root(root)
    data = read_pyproject(project_root)
    table = data.get("tool", {}).get("safemigrate")
    if table is None:
        if require_table:
            raise ConfigError(
                f"{project_root / PYPROJECT} has no [tool.safemigrate] table.",
                "Without it safemigrate does not know where the migrations and the models are.",
                "Run `safemigrate init` to adopt this project, or add the table by hand (see the README).",
            )
        table = {}
    if not isinstance(table, dict):
        raise ConfigError(
            "[tool.safemigrate] in pyproject.toml is not a table.",
            "safemigrate expects key = value settings under that heading.",
            "Write it as a [tool.safemigrate] section with keys such as metadata and script_location.",
        )
    unknown = sorted(set(table) - _KNOWN_KEYS)
    if unknown:
        raise ConfigError(
            f"Unknown key(s) in [tool.safemigrate]: {', '.join(unknown)}.",
            "A misspelt key would be silently ignored and its default used instead.",
            f"Use only these keys: {', '.join(sorted(_KNOWN_KEYS))}.",
        )
    values: dict[str, Any] = {}
    for key, value in table.items():
        expected = {"compare_server_default": bool, "environment_aliases": dict, "pg_version": int,
                    "backup": dict}.get(key, str)
        if not isinstance(value, expected):
            raise ConfigError(
                f"[tool.safemigrate] {key} must be a {expected.__name__}, not {type(value).__name__} ({value!r}).",
                "safemigrate cannot guess what a value of the wrong kind means.",
                f"Write {key} as a TOML "
                f"{ {bool: 'boolean', dict: 'table', int: 'integer'}.get(expected, 'string') }.",
            )
        values[key] = value
    if "metadata" in values:
        _check_import_path(values["metadata"])
    if "backup" in values:
        parse_backup_settings(values["backup"])  # a mistake there is a configuration error at load time
    return Settings(root=project_root, **values)


def _check_import_path(path: str) -> None:
    module, sep, attr = path.partition(":")
    if not sep or not module or not attr:
        raise ConfigError(
            f"[tool.safemigrate] metadata = {path!r} is not an import path.",
            "safemigrate imports the models' MetaData from it to compare with the migrations.",
            "Write it as 'package.module:Object.attribute', for example 'shop.models:Base.metadata'.",
        )


def resolve_environment(settings: Settings, override: str | None = None) -> Environment:
    variable = settings.environment_env
    raw = override if override is not None else os.environ.get(variable)
    aliases = {**DEFAULT_ALIASES, **{k.lower(): v for k, v in settings.environment_aliases.items()}}
    if raw is None or not raw.strip():
        return Environment("production", None, variable, assumed=True)
    name = aliases.get(raw.strip().lower())
    if name not in {"development", "test", "staging", "production"}:
        return Environment("production", raw, variable, assumed=True)
    return Environment(name, raw, variable, assumed=False)


def resolve_database_url(settings: Settings, override: str | None = None,
                         ini_url: str | None = None) -> tuple[str | None, str]:
    """The live database URL and where it came from (for messages)."""
    candidates = [
        (override, "--database-url"),
        (os.environ.get(URL_OVERRIDE_ENV), f"${URL_OVERRIDE_ENV}"),
        (os.environ.get(settings.database_url_env), f"${settings.database_url_env}"),
        (settings.database_url, "[tool.safemigrate] database_url"),
        (ini_url if ini_url != _ALEMBIC_PLACEHOLDER_URL else None, "sqlalchemy.url in alembic.ini"),
    ]
    for value, source in candidates:
        if value:
            return value, source
    return None, ""


def resolve_scratch_url(settings: Settings, override: str | None = None) -> str | None:
    return override or os.environ.get(SCRATCH_URL_ENV) or settings.scratch_url
