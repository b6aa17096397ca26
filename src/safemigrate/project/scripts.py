"""The project's migration history as Alembic loads it: the ScriptDirectory and its revision files.

Loading imports every revision file (and whatever they import), so it runs
where env.py runs, in a process of its own; what leaves that process is a
:class:`~safemigrate.project.history.History` of plain records. The start-up
guard loads it in the application's own process, where importing the project
is expected. Alembic's failures are mapped to clear messages here.
"""

from __future__ import annotations

import ast
import os
import re
import sys
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cached_property
from pathlib import Path

from alembic.config import Config
from alembic.script import Script, ScriptDirectory
from alembic.script.revision import RevisionError
from alembic.util import CommandError

from safemigrate.config.settings import Settings
from safemigrate.core.errors import MigrationFailed, RevisionGraphError
from safemigrate.core.results import SignOff
from safemigrate.project.history import History, RevisionRecord
from safemigrate.project.layout import Layout
from safemigrate.project.models import ensure_import_paths

#: The module-level sign-off list of a revision file (``safemigrate_allow = [allow(...)]``).
DECLARATION = "safemigrate_allow"


class AlembicProject:
    """A project's Alembic configuration and its loaded migration history."""

    def __init__(self, settings: Settings, *, dialect: str | None = None):
        self.settings = settings
        self.layout = Layout(settings)
        self.dialect = dialect  # version_locations may differ per dialect
        ensure_import_paths(settings.root)

    @property
    def script_location(self) -> Path:
        return self.layout.script_location

    def make_config(self, url: str | None = None) -> Config:
        return self.layout.make_config(url)

    # -- revisions -----------------------------------------------------
    @cached_property
    def script(self) -> ScriptDirectory:
        config = self.make_config()
        folders = self.layout.version_folders(self.dialect)
        with in_folder(self.settings.root):
            try:
                script = ScriptDirectory.from_config(config)
                if folders is not None:
                    script.version_locations = [str(f) for f in folders]
                _ = script.revision_map.heads  # loads every revision file now
            except SyntaxError as exc:
                _refuse_binary(folders or [self.script_location])  # Python names no file for a NUL byte
                raise MigrationFailed(
                    f"Migration file {exc.filename} has a syntax error at line {exc.lineno}: {exc.msg}.",
                    "Alembic imports every revision file to build the history, so one broken file stops all of them.",
                    "Fix the line named above.",
                    path=exc.filename, line=exc.lineno,
                ) from None
            except (CommandError, RevisionError) as exc:
                raise RevisionGraphError(
                    f"The migration history in {self.script_location} is inconsistent: {exc}.",
                    "Alembic cannot order the revisions, so none of them can be applied safely.",
                    "Fix the down_revision of the revision named above.",
                ) from None
            except Exception as exc:  # a revision file raised while being imported
                _refuse_binary(folders or [self.script_location])  # a file that is not UTF-8
                path, line = _frame_in(exc, folders or [self.script_location])
                raise MigrationFailed(
                    f"Migration file {path or '(unknown)'} failed to load"
                    f"{f' at line {line}' if line else ''}: {type(exc).__name__}: {exc}.",
                    "Alembic imports every revision file to build the history, so one broken file stops all of them.",
                    "Fix the error above (often an import of a module that moved or does not exist, or settings "
                    "the application reads when it is imported: see [tool.safemigrate.env] in the README).",
                    path=path, line=line,
                ) from None
        return script

    def records(self) -> list[RevisionRecord]:
        """One plain record per revision file."""
        return [_record(script) for script in self.script.walk_revisions()]

    @cached_property
    def history(self) -> History:
        return History(self.records(), self.script_location, self.settings.root)

    @property
    def heads(self) -> list[str]:
        return self.history.heads


_CODING = re.compile(rb"^[ \t\f]*#.*?coding[:=]")


def _refuse_binary(folders: list[Path] | list[str]) -> None:
    """A clear error naming the first ``.py`` revision file that is not text (a NUL byte, not UTF-8)."""
    for folder in folders:
        for path in sorted(Path(folder).rglob("*.py")):
            try:
                data = path.read_bytes()
            except OSError:
                continue
            nul = data.find(b"\0")
            why = f"a NUL byte at offset {nul}" if nul >= 0 else None
            if why is None and not any(_CODING.match(line) for line in data.splitlines()[:2]):
                try:
                    data.decode("utf-8")
                except UnicodeDecodeError as exc:
                    why = f"bytes that are not UTF-8 at offset {exc.start}"
            if why is not None:
                raise MigrationFailed(
                    f"Migration file {path} is not Python source: it holds binary data ({why}).",
                    "Alembic imports every .py file of the versions folder as a revision, so one unreadable file "
                    "stops all of them.",
                    "Move it out of the versions folder, or restore it from git (an editor, a merge tool or a copy "
                    "that went wrong may have written it).",
                    path=str(path),
                ) from None


def _record(script: Script) -> RevisionRecord:
    return RevisionRecord(
        revision=script.revision,
        down_revision=_ids(script.down_revision),
        depends_on=_ids(script.dependencies),
        # the labels the file declares (Alembic's Script also lists those inherited along the branch)
        branch_labels=_ids(getattr(script.module, "branch_labels", None)),
        path=str(Path(script.path).resolve()) if script.path else "",
        doc=(script.doc or "").strip(),
        signoffs=declared_signoffs(vars(script.module)),
    )


def _ids(value: object) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    return tuple(str(v) for v in value)  # type: ignore[attr-defined]


def declared_signoffs(module_globals: dict[str, object]) -> tuple[SignOff, ...]:
    """Module-level ``safemigrate_allow = [...]`` of a revision module."""
    items = module_globals.get(DECLARATION) or ()
    if not isinstance(items, (list, tuple)):
        items = [items]
    found = [getattr(item, "allowance", None) for item in items]
    return tuple(a for a in found if isinstance(a, SignOff))


@contextmanager
def in_folder(folder: Path) -> Iterator[None]:
    """Run with ``folder`` as the working directory, as Alembic's CLI would."""
    previous = os.getcwd()
    os.chdir(folder)
    _forget_relative_finders()
    try:
        yield
    finally:
        os.chdir(previous)
        _forget_relative_finders()


def _forget_relative_finders() -> None:
    # Alembic's `prepend_sys_path = .` puts relative entries on sys.path, and
    # Python caches one finder per entry bound to the working directory of its
    # first use: without this, a second project in the same process would
    # import the first project's modules.
    for entry in [p for p in sys.path_importer_cache if not os.path.isabs(p)]:
        sys.path_importer_cache.pop(entry, None)


def _frame_in(exc: BaseException, folders: list[Path]) -> tuple[str | None, int | None]:
    prefixes = tuple(str(folder) for folder in folders)
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename.startswith(prefixes)]
    if frames:
        return frames[-1].filename, frames[-1].lineno
    return None, None


def uses_helper(env_py: Path) -> bool:
    """Whether env.py calls safemigrate's helper (``from safemigrate.env import run_migrations``)."""
    try:
        tree = ast.parse(env_py.read_text())
    except (OSError, SyntaxError):
        return False
    return any(isinstance(node, ast.ImportFrom) and node.module == "safemigrate.env" for node in ast.walk(tree))

