"""Finding a project's Alembic setup for ``init``: in the project, in a package, and env.py's models.

Nothing here imports the project: folders are found on disk (an installed
package through its import spec, which does not run it) and env.py is read
as source to find the import path of its ``target_metadata``.
"""

from __future__ import annotations

import ast
import importlib.util
from dataclasses import dataclass
from pathlib import Path

import tomlkit
from alembic.config import Config

from safemigrate.config.settings import PYPROJECT
from safemigrate.core.errors import ConfigError
from safemigrate.project.layout import CANDIDATE_FOLDERS


@dataclass(frozen=True)
class Found:
    """An Alembic environment: its folder, and how [tool.safemigrate] names it."""

    location: Path
    script_location: str  # a path relative to the project, or 'package:folder' for an installed package


def find_existing(root: Path) -> Path | None:
    """The folder holding an existing env.py, from alembic.ini, [tool.alembic] or a usual place."""
    for ini in [root / "alembic.ini", *sorted(root.glob("*/alembic.ini")), *sorted(root.glob("src/*/alembic.ini"))]:
        location = _ini_location(ini)
        if location is not None:
            return location
    pyproject = root / PYPROJECT
    if pyproject.is_file():
        data = tomlkit.parse(pyproject.read_text())
        location = data.get("tool", {}).get("alembic", {}).get("script_location")
        if location:
            path = Path(str(location).replace("%(here)s", str(root)))
            path = path if path.is_absolute() else root / path
            if (path / "env.py").is_file():
                return path.resolve()
    for name in CANDIDATE_FOLDERS:
        if (root / name / "env.py").is_file():
            return (root / name).resolve()
    for env_py in [*sorted(root.glob("*/migrations/env.py")), *sorted(root.glob("src/*/migrations/env.py"))]:
        return env_py.parent.resolve()
    return None


def _ini_location(ini: Path) -> Path | None:
    if not ini.is_file():
        return None
    try:
        raw = Config(str(ini)).get_main_option("script_location")
    except Exception:  # a broken ini names nothing
        return None
    if not raw:
        return None
    if ":" in raw and not Path(raw).is_absolute():
        return None  # a package resource: found through --package
    path = Path(raw.replace("%(here)s", str(ini.parent)))
    path = path if path.is_absolute() else ini.parent / path
    return path.resolve() if (path / "env.py").is_file() else None


def find_in_package(package: str, root: Path) -> Found:
    """The Alembic environment inside ``package`` (installed, or a package of the project)."""
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        spec = None
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError(
            f"No package named {package!r} can be imported here.",
            "init --package looks for the Alembic environment inside that package.",
            "Install the package in this environment (or run init from the project that contains it), and "
            "check the spelling of its import name.",
        )
    folder = Path(list(spec.submodule_search_locations)[0]).resolve()
    environments = sorted({p.parent for p in folder.rglob("env.py")
                           if (p.parent / "script.py.mako").is_file() or (p.parent / "versions").is_dir()})
    environments = [e for e in environments if "templates" not in e.relative_to(folder).parts]
    if not environments:
        raise ConfigError(
            f"Package {package!r} ({folder}) holds no Alembic environment (no env.py beside a versions folder).",
            "init --package adopts the migrations a package ships.",
            "Name the package that contains the migrations, or pass --script-location.",
        )
    if len(environments) > 1:
        listed = ", ".join(str(e.relative_to(folder)) for e in environments)
        raise ConfigError(
            f"Package {package!r} holds {len(environments)} Alembic environments: {listed}.",
            "init adopts one environment per [tool.safemigrate] table.",
            "Pass --script-location with the one you want, as 'package:folder' (e.g. "
            f"'{package}:{environments[0].relative_to(folder).as_posix()}').",
        )
    location = environments[0]
    try:
        relative_to_root = location.relative_to(root.resolve())
        name = relative_to_root.as_posix()
    except ValueError:
        name = f"{package}:{location.relative_to(folder).as_posix()}"
    return Found(location, name)


def metadata_of_env_py(env_py: Path, root: Path | None = None) -> str | list[str] | None:
    """The import path of env.py's ``target_metadata`` (``pkg.models:Base.metadata``), when it can be read.

    A name that is a module of the package it came from (``from app import models`` then
    ``models.Base.metadata``) belongs to the module path: ``app.models:Base.metadata``. Modules are
    found on the disk, through the import spec or under ``root``; nothing is imported.
    """
    try:
        tree = ast.parse(env_py.read_text())
    except (OSError, SyntaxError, ValueError):
        return None
    imports: dict[str, tuple[str, str]] = {}  # local name -> (module, attribute path or "")
    value: ast.expr | None = None
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and not node.level:
            for alias in node.names:
                imports[alias.asname or alias.name] = (node.module, alias.name)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname:
                    imports[alias.asname] = (alias.name, "")
                else:
                    imports[alias.name.split(".")[0]] = (alias.name.split(".")[0], "")
        elif isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "target_metadata"
                                                  for t in node.targets):
            value = node.value
    if value is None:
        return None
    if isinstance(value, (ast.List, ast.Tuple)):
        paths = [_import_path(item, imports, root) for item in value.elts]
        return [p for p in paths if p] if paths and all(paths) else None
    return _import_path(value, imports, root)


def _import_path(expr: ast.expr, imports: dict[str, tuple[str, str]], root: Path | None) -> str | None:
    parts: list[str] = []
    while isinstance(expr, ast.Attribute):
        parts.insert(0, expr.attr)
        expr = expr.value
    if not isinstance(expr, ast.Name) or expr.id not in imports:
        return None
    module, attribute = imports[expr.id]
    chain = ([attribute] if attribute else []) + parts
    # `import pkg` then pkg.models.Base.metadata, or `from pkg import models` then models.Base.metadata:
    # walk down the package's modules on disk
    while chain and _has_submodule(module, chain[0], root):
        module = f"{module}.{chain.pop(0)}"
    return f"{module}:{'.'.join(chain)}" if chain else None


def _has_submodule(module: str, name: str, root: Path | None) -> bool:
    """Whether ``module.name`` is a module file, read from the disk (nothing is imported)."""
    top, *rest = module.split(".")
    folders = [root / top, root / "src" / top] if root is not None else []
    try:
        spec = importlib.util.find_spec(top)
    except (ImportError, ValueError):
        spec = None
    if spec is not None and spec.submodule_search_locations:
        folders.insert(0, Path(list(spec.submodule_search_locations)[0]))
    for folder in (f.joinpath(*rest) for f in folders):
        if (folder / f"{name}.py").is_file() or (folder / name / "__init__.py").is_file():
            return True
    return False
