"""Paths as shown to people: relative to the project (or repository) root when inside it."""

from __future__ import annotations

import os
from pathlib import Path


def relative(path: str | os.PathLike[str], root: Path) -> str:
    """``path`` relative to ``root`` with / separators, or as given when it lies outside ``root``."""
    try:
        return Path(path).resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return Path(path).as_posix()
