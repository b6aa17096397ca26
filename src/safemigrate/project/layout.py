"""Where a project's Alembic setup lives: env.py's folder, its ini, its revision folders.

Nothing here imports a revision file or the project's code: this is read from
the file system, pyproject.toml and alembic.ini, so the process that reports
results never imports the project (env.py runs in a process of its own).

Real projects ship their ini in many places: beside pyproject.toml, inside
the package next to the migrations, or not at all (the application builds
Alembic's Config in code). safemigrate finds an ini whose ``script_location``
is env.py's folder, from that folder up to the project root; when there is
none, it writes one (``script_location``, ``sqlalchemy.url`` and quiet
logging sections) so that an env.py that calls
``fileConfig(config.config_file_name)`` unconditionally still runs.
"""

from __future__ import annotations

import atexit
import configparser
import importlib.util
import os
import shutil
import tempfile
from functools import cached_property
from pathlib import Path

from alembic import __version__ as alembic_version
from alembic.config import Config

from safemigrate.config.settings import Settings, read_pyproject
from safemigrate.core.errors import ConfigError
from safemigrate.project.models import ensure_import_paths

#: Folders `safemigrate init` and discovery look in when nothing names env.py's folder.
CANDIDATE_FOLDERS = ("migrations", "alembic", "db/migrations", "migration")
ALEMBIC_VERSION = tuple(int(part) for part in alembic_version.split(".")[:2] if part.isdigit())

_GENERATED_INI = """# Written by safemigrate: this project ships no alembic.ini for its env.py.
[alembic]
script_location = {script_location}
sqlalchemy.url =

[loggers]
keys = root,sqlalchemy,alembic

[handlers]
keys = console

[formatters]
keys = generic

[logger_root]
level = WARNING
handlers = console
qualname =

[logger_sqlalchemy]
level = WARNING
handlers =
qualname = sqlalchemy.engine

[logger_alembic]
level = WARNING
handlers =
qualname = alembic

[handler_console]
class = StreamHandler
args = (sys.stderr,)
level = NOTSET
formatter = generic

[formatter_generic]
format = %(levelname)-5.5s [%(name)s] %(message)s
"""


class Layout:
    """The project's Alembic files, found without running anything."""

    def __init__(self, settings: Settings):
        self.settings = settings
        ensure_import_paths(settings.root)  # 'package:folder' locations of the project's own packages

    # -- env.py's folder ------------------------------------------------
    @cached_property
    def script_location(self) -> Path:
        root = self.settings.root
        if self.settings.script_location:
            location = _resolve_location(self.settings.script_location, root)
            if location is None or not (location / "env.py").is_file():
                raise ConfigError(
                    f"script_location = {self.settings.script_location!r} holds no env.py"
                    + (f" ({location})." if location is not None else "."),
                    "safemigrate runs the project's migrations through its env.py.",
                    "Set script_location in [tool.safemigrate] to the folder holding env.py (a path relative to "
                    "pyproject.toml, or 'package:folder'), or run `safemigrate init` to create one.",
                )
            return location
        for ini in (self.settings.alembic_ini_path, root / "alembic.ini"):
            if ini is not None and ini.is_file():
                location = _ini_location(ini)
                if location is not None and (location / "env.py").is_file():
                    return location
        tool_alembic = read_pyproject(root).get("tool", {}).get("alembic", {})
        if isinstance(tool_alembic, dict) and tool_alembic.get("script_location"):
            location = _resolve_location(str(tool_alembic["script_location"]).replace("%(here)s", str(root)), root)
            if location is not None and (location / "env.py").is_file():
                return location
        for name in CANDIDATE_FOLDERS:
            if (root / name / "env.py").is_file():
                return (root / name).resolve()
        raise ConfigError(
            f"No Alembic environment found in {root}: no script_location key, no alembic.ini naming one, and "
            f"none of {', '.join(CANDIDATE_FOLDERS)} holds an env.py.",
            "safemigrate runs the project's migrations through its env.py.",
            "Set script_location in [tool.safemigrate] to the folder holding env.py, or run `safemigrate init`.",
        )

    # -- the ini ----------------------------------------------------------
    @cached_property
    def ini(self) -> Path | None:
        """The project's own ini for env.py's folder, or None when it ships none."""
        explicit = self.settings.alembic_ini_path
        if explicit is not None:
            if not explicit.is_file():
                raise ConfigError(
                    f"alembic_ini = {self.settings.alembic_ini!r} does not exist ({explicit}).",
                    "safemigrate reads the Alembic configuration from that file.",
                    "Correct alembic_ini in [tool.safemigrate], or remove it: safemigrate then finds the ini "
                    "beside env.py's folder, or writes one.",
                )
            return explicit
        location = self.script_location
        root = self.settings.root.resolve()
        inside = root in location.parents or location == root
        # beside env.py's folder and up to the project root (an installed package: up to three levels)
        folders = [location, *location.parents][: None if inside else 4]
        for folder in folders:
            candidate = folder / "alembic.ini"
            if candidate.is_file() and _ini_location(candidate) == location:
                return candidate
            if folder == root:
                break
        default = root / "alembic.ini"
        if default.is_file() and _ini_location(default) in (None, location):
            return default
        return None

    @cached_property
    def uses_tool_alembic(self) -> bool:
        """``[tool.alembic]`` in pyproject.toml holds the settings (Alembic 1.16+) and there is no ini."""
        table = read_pyproject(self.settings.root).get("tool", {}).get("alembic")
        return isinstance(table, dict) and ALEMBIC_VERSION >= (1, 16)

    def make_config(self, url: str | None = None) -> Config:
        """A fresh Alembic Config for one run of env.py (attributes are per run)."""
        ini = self.ini
        if ini is None and self.uses_tool_alembic:
            config = Config(toml_file=str(self.settings.root / "pyproject.toml"))
        else:
            config = Config(str(ini if ini is not None else self.generated_ini()))
        config.set_main_option("script_location", str(self.script_location).replace("%", "%%"))
        if url is not None:
            config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
        return config

    def generated_ini(self) -> Path:
        """An ini written for a project that ships none (kept in a private folder for this process)."""
        folder = _private_folder()
        path = folder / f"alembic-{abs(hash(str(self.script_location)))}.ini"
        if not path.is_file():
            path.write_text(_GENERATED_INI.format(script_location=str(self.script_location).replace("%", "%%")))
        return path

    def ini_url(self) -> str | None:
        """``sqlalchemy.url`` of the project's own ini (often a placeholder: see config.resolve_database_url)."""
        if self.ini is None:
            return None
        try:
            return Config(str(self.ini)).get_main_option("sqlalchemy.url")
        except (configparser.Error, UnicodeDecodeError):
            return None

    def version_folders(self, dialect: str | None) -> list[Path] | None:
        """``version_locations`` from [tool.safemigrate] (for ``dialect``), absolute; None when not set."""
        folders = self.settings.version_folders(dialect)
        if folders is None:
            return None
        resolved = [_resolve_location(f, self.settings.root) for f in folders]
        missing = [f for f, r in zip(folders, resolved, strict=True) if r is None or not r.is_dir()]
        if missing:
            raise ConfigError(
                f"version_locations names folder(s) that do not exist: {', '.join(missing)}.",
                "safemigrate reads the revision files from those folders.",
                "Correct version_locations in [tool.safemigrate] (paths relative to pyproject.toml, or "
                "'package:folder').",
            )
        return [r for r in resolved if r is not None]

    def revision_folders(self, dialect: str | None = None) -> list[Path]:
        """Where the revision files are: version_locations from [tool.safemigrate], the ini, or ``versions/``."""
        configured = self.version_folders(dialect)
        if configured is not None:
            return configured
        locations = _version_locations(self.make_config())
        if not locations:
            return [self.script_location / "versions"]
        root = self.settings.root
        folders = []
        for location in locations:
            resolved = _resolve_location(location.replace("%(here)s", str(root)), root)
            if resolved is not None:
                folders.append(resolved)
        return folders

    @cached_property
    def env_py(self) -> Path:
        return self.script_location / "env.py"


_SEPARATORS = {"space": " ", "newline": "\n", "os": os.pathsep, ":": ":", ";": ";"}


def _version_locations(config: Config) -> list[str]:
    """The ini's version_locations split as Alembic splits them (every version since 1.13)."""
    raw = config.get_main_option("version_locations")
    if not raw:
        return []
    separator = _SEPARATORS.get(config.get_main_option("path_separator") or
                                config.get_main_option("version_path_separator") or "")
    parts = raw.split(separator) if separator else raw.replace(",", " ").split()
    return [part.strip() for part in parts if part.strip()]


def _ini_location(ini: Path) -> Path | None:
    """The folder an ini's ``script_location`` names (``%(here)s`` is the ini's folder)."""
    parser = configparser.ConfigParser(defaults={"here": str(ini.parent.resolve())}, interpolation=None)
    try:
        parser.read(ini, encoding="utf-8")
        raw = parser.get("alembic", "script_location", fallback=None)
    except (configparser.Error, UnicodeDecodeError):
        return None
    if not raw:
        return None
    return _resolve_location(raw.replace("%(here)s", str(ini.parent.resolve())), ini.parent)


def _resolve_location(raw: str, base: Path) -> Path | None:
    """A folder given as a path (relative to ``base``) or as Alembic's ``package:folder`` resource form."""
    if ":" in raw and not os.path.isabs(raw) and not (len(raw) > 1 and raw[1] == ":"):
        package, _, folder = raw.partition(":")
        try:
            spec = importlib.util.find_spec(package)
        except (ImportError, ValueError):
            return None
        if spec is None or not spec.submodule_search_locations:
            return None
        return (Path(list(spec.submodule_search_locations)[0]) / folder).resolve()
    path = Path(raw)
    return (path if path.is_absolute() else base / path).resolve()


_folder: Path | None = None
_owner = 0


def _private_folder() -> Path:
    """A folder only this user can read, removed when the process that made it exits."""
    global _folder, _owner
    if _folder is None or not _folder.is_dir():
        _folder = Path(tempfile.mkdtemp(prefix="safemigrate_"))  # mkdtemp: mode 0700
        _owner = os.getpid()
        folder, owner = _folder, _owner
        atexit.register(lambda: shutil.rmtree(folder, ignore_errors=True) if os.getpid() == owner else None)
    return _folder
