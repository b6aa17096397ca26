"""``safemigrate config``: the whole configuration validated up front, and each value with its source.

Why: every command validates the part of the configuration it uses, when it uses it; a deploy should not be the
first to find a misspelt rule id, an alias that makes "qa" production, or a scratch server nobody can reach.
This reads everything a command could read, in the same order (``config.resolution``), and checks:

- every key of ``[tool.safemigrate]`` and of its tables (``load_settings``: types, durations, import paths,
  environment aliases, backup and rehearsal tables; an unknown key is named, with the closest known one);
- the rule ids in ``[tool.safemigrate.lint]``;
- the Alembic environment (env.py's folder, the ini);
- the database URLs parse and, unless ``connect=False``, that a connection opens (the live database and the
  scratch server).

A configuration mistake raises ConfigError (exit 2) like in every command. An unreachable database does not:
it is reported beside the others, and the report is not ``ok`` (``safemigrate config`` exits 3).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.engine import URL

from safemigrate.config.resolution import ResolvedValue, resolve_values
from safemigrate.config.settings import load_settings, resolve_database_url, resolve_scratch_url
from safemigrate.core.db import ensure_reachable
from safemigrate.core.errors import DatabaseUnreachable
from safemigrate.core.results import _Serialisable
from safemigrate.core.secrets import mask_url
from safemigrate.core.urls import anchored, backend_of, parse_url
from safemigrate.guard.selection import check_lint_settings
from safemigrate.project.layout import Layout


@dataclass(frozen=True)
class Connection:
    """Whether one configured database answered (``reachable`` None: not tried)."""

    name: str  # "database_url" | "scratch_url"
    url: str  # masked
    reachable: bool | None
    problem: str = ""  # what, why, what to do, when it did not answer


@dataclass(frozen=True)
class ConfigReport(_Serialisable):
    kind = "config"

    pyproject: str
    script_location: str
    alembic_ini: str | None
    values: list[ResolvedValue] = field(default_factory=list)
    connections: list[Connection] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(c.reachable is not False for c in self.connections)

    def to_dict(self) -> dict[str, object]:
        return {**super().to_dict(), "ok": self.ok}


def check_configuration(path: str | Path | None = None, *, database_url: str | None = None,
                        environment: str | None = None, scratch_url: str | None = None,
                        connect: bool = True) -> ConfigReport:
    """Validate the project's whole configuration; ``connect=False``: parse the URLs without connecting."""
    settings = load_settings(path)
    check_lint_settings(settings.lint)
    layout = Layout(settings)
    script_location = layout.script_location
    ini = layout.ini
    ini_url = layout.ini_url()
    values = resolve_values(settings, database_url=database_url, environment=environment, scratch_url=scratch_url,
                            ini_url=ini_url)
    connections: list[Connection] = []
    raw_live, _ = resolve_database_url(settings, database_url, ini_url)
    raw_scratch = resolve_scratch_url(settings, scratch_url)
    for name, raw in (("database_url", raw_live), ("scratch_url", raw_scratch)):
        if not raw:
            continue
        url = anchored(parse_url(raw), settings.root)  # a URL that does not parse is a configuration error
        if backend_of(url) == "sqlite" and url.database not in (None, "", ":memory:") \
                and not str(url.database).startswith("file:") and not Path(url.database).is_file():
            # connecting would create it: say so instead, and leave nothing behind
            connections.append(Connection(name, mask_url(url), None, "the file does not exist yet: the first "
                                          "`safemigrate migrate` (or `alembic upgrade`) creates it"))
            continue
        connections.append(_reach(name, url) if connect else Connection(name, mask_url(url), None))
    return ConfigReport(str(settings.root / "pyproject.toml"), str(script_location), str(ini) if ini else None,
                        values, connections)


def _reach(name: str, url: URL) -> Connection:
    try:
        ensure_reachable(url)
    except DatabaseUnreachable as exc:
        return Connection(name, mask_url(url), False, f"{exc.what} {exc.why} {exc.fix}".strip())
    return Connection(name, mask_url(url), True)
