"""Migration histories as git holds them: revision files read without importing them.

The base of a pull request is another commit, so its revision files are read
from git (``ls-tree`` + ``cat-file``) and their ``revision`` /
``down_revision`` assignments parsed with :mod:`ast`: no code of another
commit is executed. The graph itself is Alembic's own ``RevisionMap``.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import PurePosixPath

from alembic.script.revision import Revision, RevisionMap

from safemigrate.ci.git import Git


@dataclass(frozen=True)
class RevisionFile:
    """One revision file: its id, parents and normalised content."""

    revision: str
    down_revision: tuple[str, ...]
    path: str  # relative to the repository's top folder, with forward slashes
    content: bytes  # line endings normalised
    down_line: int | None = None  # line of the down_revision assignment
    depends_on: tuple[str, ...] = ()
    branch_labels: tuple[str, ...] = ()


def normalise(data: bytes) -> bytes:
    """Line endings as the ledger counts them (CRLF and CR are LF)."""
    return data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")


def parse_revision(path: str, data: bytes) -> RevisionFile | None:
    """The revision a file declares, or None when it is not a revision file (or does not parse)."""
    try:
        tree = ast.parse(data)
    except (SyntaxError, ValueError):
        return None
    values: dict[str, object] = {}
    lines: dict[str, int] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            name, value = node.targets[0].id, node.value
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.value is not None:
            name, value = node.target.id, node.value
        else:
            continue
        if name in {"revision", "down_revision", "depends_on", "branch_labels"}:
            try:
                values[name] = ast.literal_eval(value)
            except ValueError:
                continue
            lines[name] = node.lineno
    revision = values.get("revision")
    if not isinstance(revision, str) or not revision:
        return None
    return RevisionFile(revision, _ids(values.get("down_revision")), path, normalise(data),
                        lines.get("down_revision"), _ids(values.get("depends_on")),
                        _ids(values.get("branch_labels")))


def _ids(value: object) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if isinstance(value, (list, tuple)):
        return tuple(str(v) for v in value)
    return ()


def read_tree(git: Git, commit: str, folders: list[str]) -> dict[str, RevisionFile]:
    """Revision id -> file, for every revision file under ``folders`` at ``commit``."""
    found: dict[str, RevisionFile] = {}
    for folder in folders:
        for path, blob in git.files(commit, folder).items():
            if not path.endswith(".py") or PurePosixPath(path).name.startswith("__init__"):
                continue
            parsed = parse_revision(path, git.blob(blob))
            if parsed is not None:
                found[parsed.revision] = parsed
    return found


def heads(revisions: dict[str, RevisionFile]) -> list[str]:
    """The heads of a history, as Alembic computes them."""
    if not revisions:
        return []
    graph = RevisionMap(lambda: [
        Revision(r.revision, r.down_revision or None, dependencies=r.depends_on or None,
                 branch_labels=r.branch_labels or None)
        for r in revisions.values()
    ])
    try:
        return sorted(graph.heads)
    except Exception:  # a broken base history: heads by the plain definition
        parents = {d for r in revisions.values() for d in r.down_revision}
        return sorted(r for r in revisions if r not in parents)
