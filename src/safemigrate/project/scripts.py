"""The project's Alembic setup: its Config, its script directory, its revision graph.

Everything Alembic already knows (the graph, heads, ranges) is asked of
Alembic; this module only maps its failures to clear messages.
"""

from __future__ import annotations

import ast
import os
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
from safemigrate.core.errors import ConfigError, MigrationFailed, RevisionGraphError
from safemigrate.core.paths import relative
from safemigrate.core.results import RevisionInfo
from safemigrate.project.models import ensure_import_paths


class AlembicProject:
    """A project's Alembic configuration and migration history."""

    def __init__(self, settings: Settings):
        self.settings = settings
        ensure_import_paths(settings.root)

    # -- configuration -------------------------------------------------
    def make_config(self) -> Config:
        """A fresh Alembic Config for one command (attributes are per run)."""
        ini = self.settings.ini_path
        if ini is not None and not ini.is_file():
            raise ConfigError(
                f"alembic_ini = {self.settings.alembic_ini!r} does not exist ({ini}).",
                "safemigrate reads the Alembic configuration from that file.",
                "Correct alembic_ini in [tool.safemigrate], or remove it to use script_location alone.",
            )
        if ini is not None:
            config = Config(str(ini))
        elif self._has_tool_alembic():
            config = Config(toml_file=str(self.settings.root / "pyproject.toml"))  # Alembic >= 1.16
        else:
            config = Config()
        location = self.script_location
        config.set_main_option("script_location", str(location))
        return config

    def _has_tool_alembic(self) -> bool:
        from safemigrate.config.settings import read_pyproject

        return "alembic" in read_pyproject(self.settings.root).get("tool", {})

    @cached_property
    def script_location(self) -> Path:
        location = self.settings.script_path
        ini = self.settings.ini_path
        if ini is not None and ini.is_file() and not (location / "env.py").is_file():
            # alembic.ini names the folder; honour it when the config key is the default.
            from_ini = Config(str(ini)).get_main_option("script_location")
            if from_ini:
                candidate = Path(from_ini)
                candidate = candidate if candidate.is_absolute() else (self.settings.root / candidate)
                if (candidate / "env.py").is_file():
                    location = candidate.resolve()
        if not (location / "env.py").is_file():
            raise ConfigError(
                f"No Alembic environment at {location} (env.py is missing).",
                "safemigrate runs the project's migrations through its env.py.",
                "Set script_location in [tool.safemigrate] to the folder holding env.py, "
                "or run `safemigrate init` to create one.",
            )
        return location

    def ini_url(self) -> str | None:
        ini = self.settings.ini_path
        if ini is None or not ini.is_file():
            return None
        return Config(str(ini)).get_main_option("sqlalchemy.url")

    # -- revisions -----------------------------------------------------
    @cached_property
    def script(self) -> ScriptDirectory:
        config = self.make_config()
        with in_folder(self.settings.root):
            try:
                script = ScriptDirectory.from_config(config)
                script.revision_map.heads  # loads every revision file now
            except SyntaxError as exc:
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
                path, line = _frame_in(exc, self.script_location)
                raise MigrationFailed(
                    f"Migration file {path or '(unknown)'} failed to load"
                    f"{f' at line {line}' if line else ''}: {type(exc).__name__}: {exc}.",
                    "Alembic imports every revision file to build the history, so one broken file stops all of them.",
                    "Fix the error above (often an import of a module that moved or does not exist).",
                    path=path, line=line,
                ) from None
        return script

    @cached_property
    def heads(self) -> list[str]:
        heads = list(self.script.get_heads())
        if not heads:
            raise RevisionGraphError(
                f"There are no revisions in {self.script_location / 'versions'}.",
                "With no migration history there is nothing to apply or to compare with the models.",
                "Create the first revision: `alembic revision --autogenerate -m \"initial\"`.",
            )
        return heads

    def info(self, revision: Script) -> RevisionInfo:
        down = revision.down_revision
        downs = [] if down is None else [down] if isinstance(down, str) else list(down)
        return RevisionInfo(
            revision=revision.revision,
            down_revision=downs,
            message=(revision.doc or "").strip(),
            path=relative(revision.path, self.settings.root) if revision.path else None,
            branch_labels=sorted(revision.branch_labels or ()),
            is_merge=revision.is_merge_point,
            is_head=revision.is_head,
        )

    def get(self, revision: str) -> Script | None:
        try:
            return self.script.get_revision(revision)
        except (CommandError, RevisionError):
            return None

    def known(self, revision: str) -> bool:
        try:
            return self.script.revision_map.get_revision(revision) is not None
        except (CommandError, RevisionError):
            return False

    def pending(self, db_heads: list[str]) -> list[str]:
        """Revisions between the database's heads and the code's heads, oldest first."""
        if any(not self.known(h) for h in db_heads):
            return []
        lower = tuple(db_heads) if db_heads else None
        revs = self.script.revision_map.iterate_revisions("heads", lower or "base", inclusive=False)
        found = [r.revision for r in revs if r.revision not in db_heads]
        return list(reversed(found))

    def span(self, plan: list[str]) -> str:
        """The range ``A:B`` whose upgrade applies exactly ``plan`` (revisions oldest first)."""
        script = self.get(plan[0])
        down = script.down_revision if script is not None else None
        before = "base" if down is None else down if isinstance(down, str) else down[0]
        return f"{before}:{plan[-1]}"

    def applied_files(self, heads: list[str]) -> dict[str, str]:
        """Revision -> file of every revision a database at ``heads`` has applied (unknown heads skipped)."""
        known = [h for h in heads if self.known(h)]
        if not known:
            return {}
        revs = self.script.revision_map.iterate_revisions(tuple(known), "base")
        return {r.revision: r.path for r in revs if r is not None}

    def in_range(self, spec: str) -> list[Script]:
        """Revisions named by ``spec``, oldest first.

        ``A:B`` is what upgrading from A to B applies (A itself excluded, as in
        ``alembic upgrade A:B --sql``); ``A:`` runs to the heads, ``:B`` and
        ``base:B`` start from the beginning; a single id names one revision.
        """
        lower, sep, upper = spec.partition(":")
        try:
            if not sep:
                revision = self.script.get_revision(spec)
                if revision is None:
                    raise CommandError(f"no revision {spec!r}")
                return [revision]
            revs = self.script.revision_map.iterate_revisions(upper or "heads", lower or "base")
            found = [r for r in revs if r is not None]
        except (CommandError, RevisionError, KeyError, ValueError) as exc:
            raise RevisionGraphError(
                f"The revision range {spec!r} does not exist in this project: {exc}.",
                "safemigrate can only work on revisions the migration history contains.",
                "Use revision ids (or unique prefixes, 'head', 'base') from `alembic history`, as FROM:TO.",
            ) from None
        return list(reversed(found))


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


def _frame_in(exc: BaseException, folder: Path) -> tuple[str | None, int | None]:
    prefix = str(folder)
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename.startswith(prefix)]
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

