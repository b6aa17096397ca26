"""The code's heads, cheaply: a cache keyed by the versions folder's listing.

Used by the start-up guard (:mod:`safemigrate.startup`), which must cost next
to nothing. On a miss, heads are read from the revision files' ``revision`` /
``down_revision`` literals without importing them (regular expressions over
Python source, never over SQL); a file that cannot be read that way makes it
ask Alembic's ScriptDirectory, which imports them all.
"""

from __future__ import annotations

import configparser
import hashlib
import json
import os
import re
import threading
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from safemigrate.config.settings import Settings, load_settings, read_pyproject

if TYPE_CHECKING:
    from safemigrate.harness.workspace import Workspace
    from safemigrate.project.scripts import AlembicProject

CACHE_FOLDER = ".safemigrate"
CACHE_FILE = "heads.json"
_CACHE_FORMAT = 1
# Which files Alembic treats as revisions (alembic.script.base._only_source_rev_file).
_REVISION_FILE = re.compile(r"(?!\.\#|__init__)(.*\.py)$")
_ASSIGNMENT = re.compile(r"^(revision|down_revision)[ \t]*(?::[^=\n]*)?=[ \t]*(\S.*)$", re.MULTILINE)

_heads_memo: dict[str, list[str]] = {}
_lock = threading.Lock()


class _Target:
    """The project's settings; its Alembic side (which imports Alembic) only when it is needed."""

    def __init__(self, project: str | os.PathLike[str] | Workspace | None):
        if project is None or isinstance(project, (str, os.PathLike)):
            self.settings: Settings = load_settings(os.fspath(project) if project is not None else None)
            self._project = None
        else:  # a safemigrate.Project (not imported here: the module must stay cheap to import)
            self.settings, self._project = project.settings, project

    @cached_property
    def alembic(self) -> AlembicProject:
        # the application's own process: importing its revision files here is expected
        from safemigrate.project.scripts import AlembicProject

        return AlembicProject(self.settings)


def code_heads_cached(target: _Target) -> list[str]:
    """The code's heads, sorted, without importing the revision files when the cache allows."""
    key, files, sourceless = _cache_key(target)
    with _lock:
        if key in _heads_memo:
            return list(_heads_memo[key])
    heads = _read_cache(target.settings.root, key)
    if heads is None:
        heads = None if sourceless else _static_heads([Path(path) for path, _, _ in files])
        if heads is None:
            heads = sorted(target.alembic.heads)  # imports every revision file: only when unavoidable
        _write_cache(target.settings.root, key, heads)
    with _lock:
        _heads_memo[key] = heads
    return list(heads)


def _cache_key(target: _Target) -> tuple[str, list[list[Any]], bool]:
    """A digest of the versions folders' listing (names, sizes, mtimes), the listing, and ``sourceless``."""
    folders, recursive, sourceless = _plain_layout(target.settings) or _alembic_layout(target.alembic)
    files = _listing(folders, recursive)
    layout = [_CACHE_FORMAT, sourceless, recursive, [str(f) for f in folders], files]
    return hashlib.sha1(json.dumps(layout).encode()).hexdigest(), files, sourceless


_SEPARATORS = {"space": " ", "newline": "\n", "os": os.pathsep, ":": ":", ";": ";"}


def _plain_layout(settings: Settings) -> tuple[list[Path], bool, bool] | None:
    """The versions folders read from alembic.ini / [tool.alembic] without importing Alembic.

    Only the plain cases (Alembic's own reading is ~70 ms of imports); anything
    else returns None and Alembic's Config answers.
    """
    location = settings.script_location or "migrations"
    if ":" in location:
        return None  # a package resource: Alembic resolves it
    script = (settings.root / location).resolve()
    if not (script / "env.py").is_file():
        return None  # AlembicProject knows where else to look
    default_ini = settings.root / "alembic.ini"
    ini = settings.alembic_ini_path or (default_ini if default_ini.is_file() else None)
    if settings.version_locations is not None:
        return None  # per-dialect folders: the layout decides
    if ini is not None:
        parser = configparser.ConfigParser(defaults={"here": ini.parent.absolute().as_posix()})
        try:
            parser.read(ini, encoding="utf-8")
            options = dict(parser.items("alembic")) if parser.has_section("alembic") else {}
        except (configparser.Error, OSError, UnicodeDecodeError):
            return None
        text = options.get("version_locations")
        raw: list[str] = []
        if text:
            separator = _SEPARATORS.get(options.get("path_separator", ""))
            if separator is None:
                return None  # legacy splitting, with its deprecation warning: Alembic's business
            raw = [part.strip() for part in text.split(separator) if part.strip()]
        recursive, sourceless = (options.get(k) == "true" for k in ("recursive_version_locations", "sourceless"))
    else:
        table = read_pyproject(settings.root).get("tool", {}).get("alembic", {})
        here = settings.root.absolute().as_posix()
        raw = [str(loc).replace("%(here)s", here) for loc in table.get("version_locations") or []]
        recursive, sourceless = (table.get(k) is True for k in ("recursive_version_locations", "sourceless"))
    if not raw:
        return [script / "versions"], recursive, sourceless
    if any(":" in loc and not os.path.isabs(loc) for loc in raw):
        return None  # package resources
    return [(settings.root / loc).absolute() for loc in raw], recursive, sourceless


def _alembic_layout(alembic: AlembicProject) -> tuple[list[Path], bool, bool]:
    config = alembic.make_config()
    folders = alembic.layout.revision_folders(alembic.dialect)
    return ([f.absolute() for f in folders], config.get_alembic_boolean_option("recursive_version_locations"),
            config.get_alembic_boolean_option("sourceless"))


def _listing(folders: list[Path], recursive: bool) -> list[list[Any]]:
    entries: list[list[Any]] = []
    for folder in folders:
        stack = [str(folder)]
        while stack:
            current = stack.pop()
            try:
                scan = os.scandir(current)
            except OSError:
                entries.append([current, -1, -1])  # absent now; its creation must change the key
                continue
            with scan:
                for entry in scan:
                    if entry.is_dir():
                        if recursive and entry.name != "__pycache__":
                            stack.append(entry.path)
                        continue
                    stat = entry.stat()
                    entries.append([entry.path, stat.st_size, stat.st_mtime_ns])
    entries.sort()
    return entries


def _static_heads(paths: list[Path]) -> list[str] | None:
    """Heads from the files' literal revision/down_revision, or None when any file is not that simple."""
    graph: dict[str, tuple[str, ...]] = {}
    for path in paths:
        if not _REVISION_FILE.match(path.name) or path.suffix != ".py":
            continue
        try:
            source = path.read_text("utf-8")
        except (OSError, UnicodeDecodeError):
            return None
        found: dict[str, Any] = {}
        for match in _ASSIGNMENT.finditer(source):
            if match.group(1) in found:
                return None  # assigned twice (or quoted in a docstring): let Alembic decide
            found[match.group(1)] = _literal(source, match.start(2))
        revision, down = found.get("revision"), found.get("down_revision", ...)
        if not isinstance(revision, str) or revision in graph:
            return None
        if down is None:
            graph[revision] = ()
        elif isinstance(down, str):
            graph[revision] = (down,)
        elif isinstance(down, (tuple, list)) and all(isinstance(d, str) for d in down):
            graph[revision] = tuple(down)
        else:
            return None
    parents = {d for downs in graph.values() for d in downs}
    heads = sorted(set(graph) - parents)
    if not heads or not parents <= set(graph) or not _reaches_all(graph, heads):
        return None  # empty, broken or cyclic history: Alembic's message explains it
    return heads


def _literal(source: str, start: int) -> Any:
    import ast

    end = start
    for _ in range(20):  # a tuple of down revisions may span a few lines
        end = source.find("\n", end + 1)
        chunk = source[start:] if end < 0 else source[start:end]
        try:
            return ast.literal_eval(chunk.strip())
        except (SyntaxError, ValueError):
            if end < 0:
                break
    return ...


def _reaches_all(graph: dict[str, tuple[str, ...]], heads: list[str]) -> bool:
    seen: set[str] = set()
    stack = list(heads)
    while stack:
        rev = stack.pop()
        if rev not in seen:
            seen.add(rev)
            stack.extend(graph[rev])
    return len(seen) == len(graph)


def _cache_paths(root: Path) -> list[Path]:
    paths = [root / CACHE_FOLDER / CACHE_FILE]
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    if base and base != "~":
        digest = hashlib.sha1(str(root).encode()).hexdigest()[:16]
        paths.append(Path(base) / "safemigrate" / f"heads-{digest}.json")
    return paths


def _read_cache(root: Path, key: str) -> list[str] | None:
    for path in _cache_paths(root):
        try:
            data = json.loads(path.read_text("utf-8"))
        except (OSError, ValueError):
            continue
        heads = data.get("heads") if isinstance(data, dict) and data.get("key") == key else None
        if isinstance(heads, list) and heads and all(isinstance(h, str) for h in heads):
            return heads
    return None


def _write_cache(root: Path, key: str, heads: list[str]) -> None:
    """Store the heads in the project's .safemigrate/, else in the user's cache folder; never fail."""
    import tempfile

    payload = json.dumps({"format": _CACHE_FORMAT, "key": key, "heads": heads}) + "\n"
    for path in _cache_paths(root):
        try:
            fresh = not path.parent.is_dir()
            path.parent.mkdir(parents=True, exist_ok=True)
            if fresh and path.parent.name == CACHE_FOLDER:
                (path.parent / ".gitignore").write_text("*\n")  # a cache, never committed
            handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".heads-", suffix=".tmp")
            with os.fdopen(handle, "w") as out:
                out.write(payload)
            os.replace(temporary, path)  # atomic: concurrent workers never read half a file
            return
        except OSError:
            continue


def remember_heads(target: _Target, heads: list[str]) -> None:
    """Alembic's own answer replaces whatever was cached (called before the guard refuses)."""
    key = _cache_key(target)[0]
    _write_cache(target.settings.root, key, heads)
    with _lock:
        _heads_memo[key] = heads
