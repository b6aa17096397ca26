"""Reusing the proof that the live database equals its revision's schema (issue #16: a deploy with nothing
to do costs what Alembic costs).

The production preflight proves two things by rebuilding the history on a
throwaway database: the live database equals the schema its revision builds
(no out-of-band change), and the models equal the schema at head. When nothing
is pending, both rest on one rebuild of head. :mod:`safemigrate.state.proofs`
keeps, in the migrated database, a digest of that rebuild's inputs and a
fingerprint of the live schema the comparison found equal. The next run
computes both again (a few milliseconds) and, when they are byte-identical,
reuses the proof: no rebuild, and "models match head" is the live comparison
with the models it makes anyway (the live schema *is* head's schema).

The inputs of a rebuild: every revision file, env.py, the ini, the other
Python files of the migrations folder, and the project's own modules the
revision files import (followed through their imports inside the project);
the server's version, the dialect and safemigrate's version. A project with a
``baseline`` (code run before revision 1) never reuses a proof.
"""

from __future__ import annotations

import ast
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy.engine import URL
from sqlalchemy.exc import SQLAlchemyError

from safemigrate._version import __version__
from safemigrate.core.db import connected
from safemigrate.schema.fingerprint import schema_fingerprint
from safemigrate.state import ledger, proofs

if TYPE_CHECKING:
    from safemigrate.harness.workspace import Workspace

_MAX_MODULES = 500  # project modules followed from the revision files


@dataclass
class ProofState:
    """What the preflight learnt about the proof, for ``migrate`` to record or report."""

    inputs: str | None = None  # digest of the rebuild's inputs (None: proofs are not used here)
    schema: str | None = None  # fingerprint of the live schema before the comparison
    reused: proofs.Proof | None = None  # the recorded proof the preflight relied on
    compared: bool = False  # a full comparison found the live database equal to its revision and the models
    versus_models: list[str] | None = None  # the live database's differences from the models, as read


def prepare(project: Workspace, url: URL, state: ProofState) -> None:
    """Fill in the inputs' digest and the live schema's fingerprint, read before anything is compared."""
    if project.settings.baseline:
        return
    try:
        with connected(url) as conn:
            schema = schema_fingerprint(conn)
            version = ".".join(str(p) for p in (conn.dialect.server_version_info or ()))
        state.inputs, state.schema = inputs_digest(project, f"{conn.dialect.name} {version}"), schema
    except (SQLAlchemyError, OSError):
        state.inputs = state.schema = None


def reusable(state: ProofState, url: URL, heads: list[str]) -> proofs.Proof | None:
    """The recorded proof for ``heads`` when its inputs and the live schema are unchanged since."""
    if state.inputs is None or state.schema is None or not heads:
        return None
    try:
        with connected(url) as conn:
            found = proofs.recorded(conn, heads)
    except SQLAlchemyError:
        return None
    if found is None or found.inputs != state.inputs or found.schema != state.schema:
        return None
    state.reused = found
    return found


def record(state: ProofState, url: URL, heads: list[str]) -> str | None:
    """Keep the proof the preflight's full comparison made; a note when it could not be kept."""
    if state.inputs is None or state.schema is None or not state.compared or state.reused is not None:
        return None
    try:
        with connected(url, transaction=True) as conn:
            if schema_fingerprint(conn) != state.schema:
                return None  # the schema changed while it was being compared: prove it again next time
            proofs.record(conn, heads, state.inputs, state.schema, __version__)
    except SQLAlchemyError as exc:
        return (f"The comparison with revision {', '.join(heads)} was not recorded ({type(exc).__name__}); the next "
                "deploy compares again.")
    return None


def inputs_digest(project: Workspace, server: str) -> str:
    """sha256 over everything a rebuild of the history depends on (see the module docstring)."""
    digest = hashlib.sha256(f"safemigrate {__version__}\x1e{server}\x1e".encode())
    settings = project.settings
    digest.update(repr((settings.baseline_revision, settings.version_locations, settings.compare_server_default,
                        sorted(settings.env.items()), settings.setup, settings.app)).encode())
    files: dict[Path, None] = {}
    layout = project.layout
    for path in (layout.env_py, layout.ini):
        if path is not None and path.is_file():
            files[path.resolve()] = None
    for path in sorted(layout.script_location.rglob("*.py")):
        files[path.resolve()] = None
    revisions = [Path(r.path).resolve() for r in project.history.records.values() if r.path]
    for path in revisions:
        files[path] = None
    for path in _project_imports(revisions, settings.root):
        files[path] = None
    for path in sorted(files):
        digest.update(f"{path}\x1f{ledger.checksum(path)}\x1e".encode())
    return digest.hexdigest()


def _project_imports(sources: list[Path], root: Path) -> list[Path]:
    """The project's own modules that ``sources`` import, and theirs, read without importing anything."""
    bases = [root.resolve(), (root / "src").resolve()]
    seen: dict[Path, None] = {}
    queue = list(sources)
    while queue and len(seen) < _MAX_MODULES:
        try:
            nodes = _imports(queue.pop().read_text(errors="replace"))
        except OSError:
            continue
        for node in nodes:
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module] if isinstance(node, ast.ImportFrom) and node.module and not node.level else []
            for name in names:
                for found in _module_files(name, bases):
                    if found not in seen:
                        seen[found] = None
                        queue.append(found)
    return list(seen)


def _imports(source: str) -> list[ast.Import | ast.ImportFrom]:
    """The import statements of a module. Each line that starts an import is parsed on its own (a revision file
    is mostly SQL and operations: parsing 500 whole files costs half a second); the whole file when one of them
    does not parse alone (an import continued on the next lines)."""
    found: list[ast.Import | ast.ImportFrom] = []
    for line in source.splitlines():
        stripped = line.strip()
        if not (stripped.startswith("import ") or (stripped.startswith("from ") and " import " in stripped)):
            continue
        try:
            found += [n for n in ast.parse(stripped).body if isinstance(n, ast.Import | ast.ImportFrom)]
        except SyntaxError:
            try:
                tree = ast.parse(source)
            except (SyntaxError, ValueError):
                return found
            return [n for n in ast.walk(tree) if isinstance(n, ast.Import | ast.ImportFrom)]
    return found


def _module_files(name: str, bases: list[Path]) -> list[Path]:
    """The files of module ``name`` (and of its packages) under the project's folders."""
    found: list[Path] = []
    parts = name.split(".")
    for base in bases:
        for depth in range(1, len(parts) + 1):
            stem = base.joinpath(*parts[:depth])
            for candidate in (stem.with_suffix(".py"), stem / "__init__.py"):
                if candidate.is_file():
                    found.append(candidate.resolve())
    return found
