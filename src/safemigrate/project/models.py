"""Importing the models' MetaData from an import path like ``shop.models:Base.metadata``."""

from __future__ import annotations

import importlib
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path

from sqlalchemy import MetaData

from safemigrate.core.errors import MetadataError


def ensure_import_paths(root: Path) -> None:
    """Make the project's own packages importable (flat or src layout)."""
    for folder in (root / "src", root):
        text = str(folder)
        if folder.is_dir() and text not in sys.path:
            sys.path.insert(0, text)


def import_metadata(path: str, root: Path) -> MetaData:
    """Import ``module:attr.path`` and return the MetaData it names.

    A declarative base (anything with a ``.metadata`` MetaData) is accepted too.
    """
    ensure_import_paths(root)
    module_name, _, attr_path = path.partition(":")
    try:
        obj: object = importlib.import_module(module_name)
    except Exception as exc:  # the user's module may raise anything
        where = _user_frame(exc, root)
        raise MetadataError(
            f"Importing {module_name!r} (from metadata = {path!r}) failed{where}: "
            f"{type(exc).__name__}: {exc}.",
            "safemigrate needs the models to know what the schema should be.",
            "Fix the error above, or point [tool.safemigrate] metadata at the module that defines "
            "your tables; run from the project folder so its packages can be imported.",
        ) from exc
    for part in attr_path.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise MetadataError(
                f"{module_name!r} has no attribute {attr_path!r} (metadata = {path!r}).",
                "safemigrate needs the models' MetaData to compare with the migrations.",
                "Name the object that holds your tables, for example 'shop.models:Base.metadata'.",
            ) from None
    candidate = getattr(obj, "metadata", obj) if not isinstance(obj, MetaData) else obj
    if isinstance(candidate, MetaData):
        return candidate
    if isinstance(obj, Sequence) and obj and all(isinstance(m, MetaData) for m in obj):
        raise MetadataError(
            f"metadata = {path!r} is a list of MetaData objects.",
            "safemigrate compares one MetaData per project.",
            "Point metadata at a single MetaData, or let env.py pass target_metadata.",
        )
    raise MetadataError(
        f"metadata = {path!r} is a {type(obj).__name__}, not a SQLAlchemy MetaData.",
        "safemigrate compares the tables registered on a MetaData with the migrations.",
        "Point it at the MetaData, for example 'shop.models:Base.metadata' or 'shop.db:metadata'.",
    )


def _user_frame(exc: BaseException, root: Path) -> str:
    """' at FILE line N' for the deepest frame inside the project, if any."""
    if isinstance(exc, SyntaxError) and exc.filename:
        return f" at {exc.filename} line {exc.lineno}"
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename.startswith(str(root))]
    if frames:
        return f" at {frames[-1].filename} line {frames[-1].lineno}"
    return ""
