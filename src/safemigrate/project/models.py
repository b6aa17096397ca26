"""Importing the project's own objects from import paths like ``shop.models:Base.metadata``.

Used where env.py runs (the models, the baseline, a setup function, an
application) and by the start-up guard, inside the application.
"""

from __future__ import annotations

import importlib
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path

from sqlalchemy import MetaData

from safemigrate.core.errors import ConfigError, MetadataError


def ensure_import_paths(root: Path) -> None:
    """Make the project's own packages importable (flat or src layout)."""
    for folder in (root / "src", root):
        text = str(folder)
        if folder.is_dir() and text not in sys.path:
            sys.path.insert(0, text)


def import_object(path: str, root: Path, key: str) -> object:
    """Import ``module:attr.path``; ``key`` names the [tool.safemigrate] key it came from, for messages."""
    ensure_import_paths(root)
    module_name, _, attr_path = path.partition(":")
    error = MetadataError if key == "metadata" else ConfigError
    try:
        obj: object = importlib.import_module(module_name)
    except Exception as exc:  # the user's module may raise anything
        where = _user_frame(exc, root)
        raise error(
            f"Importing {module_name!r} (from {key} = {path!r}) failed{where}: {type(exc).__name__}: {exc}.",
            "safemigrate imports it to drive the project's migrations.",
            f"Fix the error above, or point [tool.safemigrate] {key} at the right module; if the module needs "
            "settings when it is imported (environment variables), set them in [tool.safemigrate.env].",
        ) from exc
    for part in attr_path.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise error(
                f"{module_name!r} has no attribute {attr_path!r} ({key} = {path!r}).",
                "safemigrate imports that object to drive the project's migrations.",
                f"Name an object the module defines, for example 'package.module:name' in {key}.",
            ) from None
    return obj


def as_metadata(obj: object) -> MetaData | None:
    """``obj`` as a MetaData: a MetaData, or anything with a ``.metadata`` MetaData (a declarative base)."""
    candidate = obj if isinstance(obj, MetaData) else getattr(obj, "metadata", None)
    return candidate if isinstance(candidate, MetaData) else None


def import_metadata(path: str | Sequence[str], root: Path) -> MetaData | list[MetaData]:
    """The MetaData named by ``path`` (or a list of them, for several paths or a list object).

    Each MetaData comes once (modules that register their tables on one shared MetaData name it several
    times), and a table defined on two of them is refused with a message: see :func:`distinct_metadata`.
    """
    return distinct_metadata(_import_metadata(path, root), f"metadata = {path!r} in [tool.safemigrate]")


def distinct_metadata(models: MetaData | Sequence[MetaData], source: str) -> MetaData | list[MetaData]:
    """Each MetaData once (one alone when that is all there is); no table on two of them.

    Alembic's comparison refuses a list that names one table twice ("Duplicate table keys across multiple
    MetaData objects"), even when both entries are the same MetaData.
    """
    if isinstance(models, MetaData):
        return models
    unique = list({id(m): m for m in models}.values())
    owner: dict[str, int] = {}
    shared: list[str] = []
    for index, metadata in enumerate(unique):
        for key in metadata.tables:
            if owner.setdefault(key, index) != index and key not in shared:
                shared.append(key)
    if shared:
        names = ", ".join(shared[:10]) + (f" and {len(shared) - 10} more" if len(shared) > 10 else "")
        raise MetadataError(
            f"Table(s) {names} are defined on more than one of the {len(unique)} MetaData objects of {source}.",
            "The models must define each table once: Alembic compares them with the database table by table and "
            "refuses models that define a table twice, as it cannot tell which definition is meant.",
            "Give safemigrate each table once: list the MetaData objects that do not share tables, or point "
            "metadata at one MetaData of your own that holds every table once (Table.to_metadata() copies a "
            "table onto it).",
        )
    return unique[0] if len(unique) == 1 else unique


def _import_metadata(path: str | Sequence[str], root: Path) -> MetaData | list[MetaData]:
    if not isinstance(path, str):
        found: list[MetaData] = []
        for item in path:
            loaded = _import_metadata(item, root)
            found.extend(loaded if isinstance(loaded, list) else [loaded])
        return found
    obj = import_object(path, root, "metadata")
    metadata = as_metadata(obj)
    if metadata is not None:
        return metadata
    if isinstance(obj, Sequence) and obj and all(as_metadata(m) is not None for m in obj):
        return [m for m in (as_metadata(o) for o in obj) if m is not None]
    raise MetadataError(
        f"metadata = {path!r} is a {type(obj).__name__}, not a SQLAlchemy MetaData.",
        "safemigrate compares the tables registered on a MetaData with the migrations.",
        "Point it at the MetaData, for example 'shop.models:Base.metadata' or 'shop.db:metadata' "
        "(a list of paths is accepted when the models live on several MetaData objects).",
    )


def _user_frame(exc: BaseException, root: Path) -> str:
    """' at FILE line N' for the deepest frame inside the project, if any."""
    if isinstance(exc, SyntaxError) and exc.filename:
        return f" at {exc.filename} line {exc.lineno}"
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename.startswith(str(root))]
    if frames:
        return f" at {frames[-1].filename} line {frames[-1].lineno}"
    return ""
