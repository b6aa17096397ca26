"""Every setting's resolved value and where it came from (``safemigrate config``).

Why: a value that is not what its owner thinks (a default nobody wrote down, a variable set in the shell that
beats pyproject.toml, an environment alias that makes "qa" production) is found by reading, not by a failed
deploy. This module only resolves: it reads ``[tool.safemigrate]`` through :func:`load_settings` (which
validates every key) and the same variables the commands read, in the same order. Reaching the databases is
``checks.configuration``'s job.

URLs are masked here, before any renderer sees them.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from typing import Any

from safemigrate.config.backup import parse_backup_settings
from safemigrate.config.settings import (
    PYPROJECT,
    SCRATCH_URL_ENV,
    Settings,
    duration_ms,
    read_pyproject,
    resolve_database_url,
    resolve_environment,
)
from safemigrate.core.secrets import mask_url

PYPROJECT_SOURCE = "pyproject"
DEFAULT_SOURCE = "default"
UNSET = "unset"

#: Keys shown as durations, with their value in milliseconds beside.
_DURATIONS = ("lock_timeout", "statement_timeout", "instance_ttl")
_URL_KEYS = ("database_url", "scratch_url")


@dataclass(frozen=True)
class ResolvedValue:
    """One setting: its key as written in pyproject.toml, its value (URLs masked), and where it came from."""

    key: str
    value: Any
    source: str  # "pyproject", "default", "$VARIABLE", "--option", "sqlalchemy.url in alembic.ini", "unset"
    note: str = ""  # what the value means when that is not obvious ("5000 ms", "treated as production")


def resolve_values(settings: Settings, *, database_url: str | None = None, environment: str | None = None,
                   scratch_url: str | None = None, ini_url: str | None = None) -> list[ResolvedValue]:
    """Each setting of ``[tool.safemigrate]`` and of the run (database, environment) with its source."""
    table = _table(settings)
    values: list[ResolvedValue] = []
    for field in dataclasses.fields(Settings):
        if field.name in {"root", "lint", "rehearsal", "backup", "env", "environment_aliases", *_URL_KEYS}:
            continue
        value = getattr(settings, field.name)
        note = _duration_note(value, field.name) if field.name in _DURATIONS else ""
        values.append(ResolvedValue(field.name, value, _source(table, field.name), note))
    raw_url, url_source = resolve_database_url(settings, database_url, ini_url)
    values.append(_url_value("database_url", raw_url, _where(url_source),
                             f"first of --database-url, ${'SAFEMIGRATE_DATABASE_URL'}, ${settings.database_url_env}, "
                             "database_url, alembic.ini" if raw_url is None else ""))
    scratch, scratch_source = _scratch(settings, scratch_url)
    values.append(_url_value("scratch_url", scratch, scratch_source,
                             "" if scratch else "throwaway databases are SQLite files"))
    env = resolve_environment(settings, environment)
    values.append(ResolvedValue(
        "environment", env.name, "--env" if environment is not None else (f"${env.variable}" if env.raw is not None
                                                                             else DEFAULT_SOURCE),
        "" if not env.assumed else env.describe().partition(" ")[2].strip("()")))
    for alias, name in sorted(settings.environment_aliases.items()):
        values.append(ResolvedValue(f"environment_aliases.{alias}", name, PYPROJECT_SOURCE,
                                    f"{settings.environment_env}={alias} runs as {name}"))
    for name, value in sorted(settings.env.items()):
        values.append(ResolvedValue(f"env.{name}", mask_url(value) if "://" in value else value, PYPROJECT_SOURCE,
                                    "set for env.py" + (" (already set in this shell: pyproject wins)"
                                                        if name in os.environ else "")))
    values += _lint(settings, table)
    values += _backup(table)
    values += _rehearsal(settings, table)
    return values


def _table(settings: Settings) -> dict[str, Any]:
    tool = read_pyproject(settings.root).get("tool", {})
    table = tool.get("safemigrate", {}) if isinstance(tool, dict) else {}
    return table if isinstance(table, dict) else {}


def _source(table: dict[str, Any], key: str) -> str:
    return PYPROJECT_SOURCE if key in table else DEFAULT_SOURCE


def _where(source: str) -> str:
    if not source:
        return UNSET
    if source.startswith("[tool.safemigrate]"):
        return PYPROJECT_SOURCE
    return source


def _url_value(key: str, raw: str | None, source: str, note: str) -> ResolvedValue:
    return ResolvedValue(key, mask_url(raw) if raw else None, source if raw else UNSET, note)


def _scratch(settings: Settings, override: str | None) -> tuple[str | None, str]:
    # the order of config.settings.resolve_scratch_url, with the source named
    for value, source in ((override, "--scratch-url"), (os.environ.get(SCRATCH_URL_ENV), f"${SCRATCH_URL_ENV}"),
                          (settings.scratch_url, PYPROJECT_SOURCE)):
        if value:
            return value, source
    return None, UNSET


def _lint(settings: Settings, table: dict[str, Any]) -> list[ResolvedValue]:
    lint_table = table.get("lint", {})
    source = lambda key: PYPROJECT_SOURCE if key in lint_table else DEFAULT_SOURCE  # noqa: E731
    lint = settings.lint
    return [
        ResolvedValue("lint.select", list(lint.select) if lint.select is not None else "all rules", source("select")),
        ResolvedValue("lint.ignore", list(lint.ignore), source("ignore")),
        ResolvedValue("lint.severity", dict(lint.severity), source("severity")),
    ]


def _backup(table: dict[str, Any]) -> list[ResolvedValue]:
    backup_table = table.get("backup", {})
    backup = parse_backup_settings(backup_table)
    out: list[ResolvedValue] = []
    for field in dataclasses.fields(backup):
        value = getattr(backup, field.name)
        if field.name == "tools":
            out += [ResolvedValue(f"backup.{k}", v, PYPROJECT_SOURCE) for k, v in sorted(value.items())]
            continue
        if field.name == "url":
            value = mask_url(value) if value and "://" in value else value
        if isinstance(value, tuple):
            value = list(value)
        note = "backups are off" if field.name == "url" and not value else ""
        out.append(ResolvedValue(f"backup.{field.name}", value,
                                 PYPROJECT_SOURCE if field.name in backup_table else DEFAULT_SOURCE, note))
    return out


def _rehearsal(settings: Settings, table: dict[str, Any]) -> list[ResolvedValue]:
    rehearsal_table = table.get("rehearsal", {})
    budgets = settings.rehearsal.budgets
    out = []
    for key, value in (("max_writer_stall", budgets.max_writer_stall_ms),
                       ("max_reader_stall", budgets.max_reader_stall_ms),
                       ("max_duration", budgets.max_duration_ms), ("rows", settings.rehearsal.rows)):
        shown = rehearsal_table.get(key) if key in rehearsal_table else None
        note = f"{value} ms" if value is not None and key != "rows" else ("not checked" if key != "rows" else "")
        out.append(ResolvedValue(f"rehearsal.{key}", shown, PYPROJECT_SOURCE if key in rehearsal_table
                                 else DEFAULT_SOURCE, note))
    required = settings.rehearsal.require_rehearsal
    out.append(ResolvedValue("rehearsal.require_rehearsal", rehearsal_table.get("require_rehearsal"),
                             PYPROJECT_SOURCE if "require_rehearsal" in rehearsal_table else DEFAULT_SOURCE,
                             f"production migrate needs a passing rehearsal within {required}" if required is not None
                             else "production migrate needs no rehearsal"))
    return out


def pyproject_path(settings: Settings) -> str:
    return str(settings.root / PYPROJECT)


def _duration_note(value: str, key: str) -> str:
    ms = duration_ms(value, key)
    return f"{ms} ms" if ms else "off"
