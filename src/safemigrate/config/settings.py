"""Project discovery and the ``[tool.safemigrate]`` configuration table."""

from __future__ import annotations

import os
import string
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError

from safemigrate.config.backup import parse_backup_settings
from safemigrate.config.rehearsal import RehearsalSettings, parse_rehearsal_settings
from safemigrate.config.suggest import did_you_mean
from safemigrate.core.durations import parse_ms
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

#: Placeholders a value of ``[tool.safemigrate.env]`` may use, filled from the database env.py is pointed at.
ENV_PLACEHOLDERS = ("url", "backend", "driver", "host", "port", "database", "user", "password")

#: Every key of [tool.safemigrate] and the TOML type it takes.
_KEY_TYPES: dict[str, type | tuple[type, ...]] = {
    "metadata": (str, list), "script_location": str, "alembic_ini": str, "database_url_env": str,
    "environment_env": str, "database_url": str, "scratch_url": str, "dialect": str,
    "compare_server_default": bool, "environment_aliases": dict, "start_after": str, "lock_timeout": str,
    "statement_timeout": str, "pg_version": int, "backup": dict, "baseline": str, "baseline_revision": str,
    "setup": str, "app": str, "version_locations": (list, dict), "env": dict, "lint": dict, "rehearsal": dict,
    "safe_by_default": bool, "instance_ttl": str,
}
_KNOWN_KEYS = set(_KEY_TYPES)
_TOML_NAMES = {bool: "boolean", dict: "table", int: "integer", list: "array", str: "string"}


#: Every key of [tool.safemigrate.lint].
_LINT_KEYS = ("select", "ignore", "severity")


@dataclass(frozen=True)
class LintSettings:
    """``[tool.safemigrate.lint]``: which rules lint reports, and how severe (never what the guard refuses).

    Rule ids are checked against the rules when a project is opened (``guard.selection``): this layer does
    not know the rules.
    """

    select: tuple[str, ...] | None = None  # only these rules (None: all)
    ignore: tuple[str, ...] = ()
    severity: dict[str, str] = field(default_factory=dict)  # rule id -> "warning" | "error"


@dataclass(frozen=True)
class Settings:
    """The ``[tool.safemigrate]`` table with defaults applied."""

    root: Path
    metadata: str | list[str] | None = None  # import path(s) of the models' MetaData
    script_location: str | None = None  # the folder holding env.py; found from alembic.ini when unset
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
    # hand-written operations run in the forms safemigrate writes (schema.safe_ops.runtime); PostgreSQL only
    safe_by_default: bool = False
    #: how long a running instance counts after its start-up guard last recorded it (expand–contract contracts)
    instance_ttl: str = "1h"
    backup: dict[str, Any] = field(default_factory=dict)  # [tool.safemigrate.backup], see safemigrate.config.backup
    # -- what a real project may need so that its env.py can be driven (README: "Real projects") ------
    baseline: str | None = None  # MetaData or callable(connection) run before revision 1 on a throwaway database
    # the revision the baseline stands for ("head": the project builds new databases with create_all + stamp
    # head); the throwaway database is stamped there and only the revisions after it are replayed
    baseline_revision: str | None = None
    setup: str | None = None  # callable(config) run before env.py (settings a project's CLI would load)
    app: str | None = None  # an application (or factory) whose app_context() env.py runs in (Flask-Migrate)
    version_locations: list[str] | dict[str, list[str]] | None = None  # revision folders (per dialect)
    env: dict[str, str] = field(default_factory=dict)  # [tool.safemigrate.env]: variables set for env.py
    lint: LintSettings = field(default_factory=LintSettings)  # [tool.safemigrate.lint]
    rehearsal: RehearsalSettings = field(default_factory=RehearsalSettings)  # [tool.safemigrate.rehearsal]

    @property
    def lock_timeout_ms(self) -> int:
        return duration_ms(self.lock_timeout, "lock_timeout")

    @property
    def statement_timeout_ms(self) -> int:
        return duration_ms(self.statement_timeout, "statement_timeout")

    @property
    def alembic_ini_path(self) -> Path | None:
        return (self.root / self.alembic_ini).resolve() if self.alembic_ini else None

    @property
    def metadata_paths(self) -> list[str]:
        if self.metadata is None:
            return []
        return [self.metadata] if isinstance(self.metadata, str) else list(self.metadata)

    def version_folders(self, dialect: str | None) -> list[str] | None:
        """``version_locations`` for ``dialect`` (a table keyed by dialect, or one list for all)."""
        if self.version_locations is None:
            return None
        if isinstance(self.version_locations, list):
            return list(self.version_locations)
        key = "mysql" if dialect == "mariadb" else dialect
        return list(self.version_locations.get(key or "", self.version_locations.get("default", [])))


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
            f"{did_you_mean(unknown, _KNOWN_KEYS)}Use only these keys: {', '.join(sorted(_KNOWN_KEYS))}.",
        )
    values: dict[str, Any] = {}
    for key, value in table.items():
        expected = _KEY_TYPES[key]
        kinds = expected if isinstance(expected, tuple) else (expected,)
        if not isinstance(value, kinds) or (bool not in kinds and isinstance(value, bool)):
            wanted = " or ".join(_TOML_NAMES[k] for k in kinds)
            raise ConfigError(
                f"[tool.safemigrate] {key} must be a TOML {wanted}, not {type(value).__name__} ({value!r}).",
                "safemigrate cannot guess what a value of the wrong kind means.",
                f"Write {key} as a TOML {wanted} (see the README's list of keys).",
            )
        values[key] = value
    for key in ("metadata", "baseline", "setup", "app"):
        for path in ([values[key]] if isinstance(values.get(key), str) else values.get(key) or []):
            _check_import_path(path, key)
    if "baseline_revision" in values and not values.get("baseline"):
        raise ConfigError(
            f"[tool.safemigrate] baseline_revision = {values['baseline_revision']!r} is set without baseline.",
            "baseline_revision names the revision the baseline's schema stands for; without a baseline there is "
            "nothing to stamp there.",
            "Add baseline = 'package.module:metadata' (the schema create_all builds), or remove baseline_revision.",
        )
    if "version_locations" in values:
        _check_version_locations(values["version_locations"])
    for key in ("lock_timeout", "statement_timeout", "instance_ttl"):
        if key in values:
            duration_ms(values[key], key)  # a mistake is a configuration error at load time
    if "env" in values:
        values["env"] = _check_env(values["env"])
    if "environment_aliases" in values:
        _check_aliases(values["environment_aliases"])
    if "backup" in values:
        parse_backup_settings(values["backup"])  # a mistake there is a configuration error at load time
    if "lint" in values:
        values["lint"] = _check_lint(values["lint"])
    if "rehearsal" in values:
        values["rehearsal"] = parse_rehearsal_settings(values["rehearsal"])
    return Settings(root=project_root, **values)


_DURATION_WHY = {
    "lock_timeout": "It bounds how long a migration waits for a lock (PostgreSQL's SET lock_timeout, MySQL's "
                    "lock_wait_timeout).",
    "statement_timeout": "It bounds how long one statement of a migration may run.",
    "instance_ttl": "It says how long a running instance of the application counts after it last recorded itself, "
                    "before an expand–contract contract may drop the shape it uses.",
}


def duration_ms(value: str, key: str = "lock_timeout") -> int:
    """A duration such as '5s', '1500ms' or '1min' in milliseconds ('0': off); a clear error otherwise."""
    parsed = parse_ms(value)
    if parsed is None:
        raise ConfigError(
            f"[tool.safemigrate] {key} = {value!r} is not a duration.",
            _DURATION_WHY.get(key, _DURATION_WHY["lock_timeout"]),
            "Write it like '5s', '1500ms' or '1min'; '0' turns it off.",
        )
    return parsed


_IMPORT_PURPOSE = {
    "metadata": ("safemigrate imports the models' MetaData from it to compare with the migrations.",
                 "'shop.models:Base.metadata'"),
    "baseline": ("safemigrate imports the schema (a MetaData, or a function taking a connection) that exists "
                 "before the first revision from it.", "'shop.legacy:metadata'"),
    "setup": ("safemigrate calls that function with Alembic's Config before it runs env.py.",
              "'shop.migrations_setup:configure'"),
    "app": ("safemigrate imports the application (or its factory) and runs env.py inside its app context.",
            "'shop.app:create_app'"),
}


def _check_import_path(path: object, key: str = "metadata") -> None:
    module, sep, attr = str(path).partition(":")
    if not isinstance(path, str) or not sep or not module or not attr:
        why, example = _IMPORT_PURPOSE[key]
        raise ConfigError(
            f"[tool.safemigrate] {key} = {path!r} is not an import path.",
            why,
            f"Write it as 'package.module:object', for example {example}.",
        )


def _check_version_locations(value: object) -> None:
    lists = value.values() if isinstance(value, dict) else [value]
    if not all(isinstance(v, list) and all(isinstance(p, str) for p in v) for v in lists):
        raise ConfigError(
            f"[tool.safemigrate] version_locations = {value!r} is not a list of folders.",
            "safemigrate looks for revision files in those folders, as Alembic's version_locations does.",
            "Write it as a list of folders relative to pyproject.toml, or as a table of such lists keyed by "
            "dialect (postgresql = [...], sqlite = [...]).",
        )


def _check_lint(table: dict[str, Any]) -> LintSettings:
    unknown = sorted(set(table) - set(_LINT_KEYS))
    if unknown:
        raise ConfigError(
            f"Unknown key(s) in [tool.safemigrate.lint]: {', '.join(unknown)}.",
            "A misspelt key would be silently ignored and every rule reported as before.",
            f"{did_you_mean(unknown, _LINT_KEYS)}Use only these keys: {', '.join(_LINT_KEYS)}.",
        )
    lists: dict[str, tuple[str, ...]] = {}
    for key in ("select", "ignore"):
        value = table.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError(
                f"[tool.safemigrate.lint] {key} = {value!r} is not a list of rule ids.",
                f"{key} names the rules lint {'reports (only those)' if key == 'select' else 'does not report'}.",
                f'Write it as {key} = ["add-index-non-concurrently", ...]; `safemigrate rules` lists the ids.',
            )
        lists[key] = tuple(value)
    severity = table.get("severity", {})
    if not isinstance(severity, dict) or not all(v in ("warning", "error") for v in severity.values()):
        raise ConfigError(
            f"[tool.safemigrate.lint] severity = {severity!r} is not a table of rule ids to \"warning\" or \"error\".",
            "It sets how severe each rule's findings are: an error makes lint exit 1, a warning does not.",
            'Write it as severity = { "add-index-non-concurrently" = "warning" }.',
        )
    return LintSettings(select=lists["select"] if "select" in table else None, ignore=lists["ignore"],
                        severity=dict(severity))


ENVIRONMENTS = ("development", "test", "staging", "production")


def _check_aliases(table: dict[str, Any]) -> None:
    """Each alias names one of the four environments: a typo there would silently mean production."""
    for alias, name in table.items():
        if name not in ENVIRONMENTS:
            raise ConfigError(
                f"[tool.safemigrate] environment_aliases: {alias} = {name!r} is not an environment.",
                f"An environment safemigrate does not know is treated as production, so {alias!r} would run with "
                "production's checks whatever was meant.",
                f"{did_you_mean([str(name)], ENVIRONMENTS)}Map each alias to one of {', '.join(ENVIRONMENTS)}.",
            )


def _check_env(table: dict[str, Any]) -> dict[str, str]:
    checked: dict[str, str] = {}
    for name, value in table.items():
        if not isinstance(value, (str, int)) or isinstance(value, bool):
            raise ConfigError(
                f"[tool.safemigrate.env] {name} must be a string, not {type(value).__name__}.",
                "These are environment variables set for env.py.",
                f'Write it as {name} = "..." (placeholders: {", ".join("{" + p + "}" for p in ENV_PLACEHOLDERS)}).',
            )
        text = str(value)
        try:
            fields = {f for _, f, _, _ in string.Formatter().parse(text) if f is not None}
        except ValueError as exc:
            fields = {f"(malformed: {exc})"}
        unknown = sorted(f for f in fields if f not in ENV_PLACEHOLDERS)
        if unknown:
            raise ConfigError(
                f"[tool.safemigrate.env] {name} = {text!r} uses unknown placeholder(s): {', '.join(unknown)}.",
                "Placeholders are filled from the database safemigrate points env.py at (a throwaway database, "
                "or the live one).",
                f"Use only {', '.join('{' + p + '}' for p in ENV_PLACEHOLDERS)}; "
                "write a literal brace as {{ or }}.",
            )
        checked[name] = text
    return checked


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


INI_SOURCE = "sqlalchemy.url in alembic.ini"


def resolve_database_url(settings: Settings, override: str | None = None,
                         ini_url: str | None = None) -> tuple[str | None, str]:
    """The live database URL and where it came from (for messages).

    The ini's ``sqlalchemy.url`` is the last resort, and only when it is a usable URL: projects ship
    placeholders there (``driver://...``, ``scheme://...``, an empty value).
    """
    candidates = [
        (override, "--database-url"),
        (os.environ.get(URL_OVERRIDE_ENV), f"${URL_OVERRIDE_ENV}"),
        (os.environ.get(settings.database_url_env), f"${settings.database_url_env}"),
        (settings.database_url, "[tool.safemigrate] database_url"),
        (ini_url if usable_ini_url(ini_url) else None, INI_SOURCE),
    ]
    for value, source in candidates:
        if value:
            return value, source
    return None, ""


def usable_ini_url(raw: str | None) -> bool:
    """Whether an ini's sqlalchemy.url names a real database (not a placeholder a template left)."""
    if not raw or not raw.strip() or raw.strip() in {_ALEMBIC_PLACEHOLDER_URL, '""', "''"}:
        return False
    try:
        url = make_url(raw.strip())
        url.get_dialect()
    except (ArgumentError, NoSuchModuleError, ValueError, ImportError):
        return False
    return bool(url.database) or url.get_backend_name() == "sqlite"


def resolve_scratch_url(settings: Settings, override: str | None = None) -> str | None:
    return override or os.environ.get(SCRATCH_URL_ENV) or settings.scratch_url
