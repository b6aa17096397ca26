"""The GitHub Actions workflow files that ``safemigrate init --github`` writes.

Templates live in ``safemigrate/templates/workflows``; this module fills in
the few project-specific parts (where the project sits in the repository,
how to install its dependencies, the main branch) and writes them into the
repository's ``.github/workflows``. An existing file is never overwritten.
"""

from __future__ import annotations

import json
import subprocess
import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from safemigrate._version import __version__

PR_CHECK = "pr-migration-check.yml"
AUTOFIX = "migration-autofix.yml"
PYTHON_VERSION = "3.12"


@dataclass(frozen=True)
class Written:
    path: Path
    written: bool  # False: a file was already there and was left as it is


def render(name: str, project_root: Path, repo_root: Path, *, branch: str = "main") -> str:
    """The text of workflow ``name`` for the project at ``project_root`` inside ``repo_root``."""
    template = (resources.files("safemigrate") / "templates" / "workflows" / name).read_text()
    rel = project_root.resolve().relative_to(repo_root.resolve()).as_posix()
    defaults = "" if rel == "." else f"    defaults:\n      run:\n        working-directory: {rel}\n"
    install = "\n".join(" " * 10 + line for line in _install_lines(project_root))
    return (template.replace("@DEFAULTS@", defaults).replace("@INSTALL@", install)
            .replace("@PYTHON@", PYTHON_VERSION).replace("@BRANCH@", branch))


def write_workflows(project_root: Path) -> list[Written]:
    """Write both workflows into the repository's .github/workflows (the project's, outside git)."""
    repo_root = repository_root(project_root) or project_root
    folder = repo_root / ".github" / "workflows"
    branch = _main_branch(repo_root)
    texts = {name: render(name, project_root, repo_root, branch=branch) for name in (PR_CHECK, AUTOFIX)}
    folder.mkdir(parents=True, exist_ok=True)
    done: list[Written] = []
    for name, text in texts.items():
        path = folder / name
        if path.exists():
            done.append(Written(path, False))
            continue
        path.write_text(text)
        done.append(Written(path, True))
    return done


def repository_root(folder: Path) -> Path | None:
    for candidate in [folder.resolve(), *folder.resolve().parents]:
        if (candidate / ".git").exists():
            return candidate
    return None


def _install_lines(project_root: Path) -> list[str]:
    # the version that wrote the workflow, exactly: an upgrade is a reviewed change of this file
    lines = ["python -m pip install --upgrade pip", f'python -m pip install "safemigrate=={__version__}"']
    if (project_root / "requirements.txt").is_file():
        return lines + ["python -m pip install -r requirements.txt"]
    dependencies: list[str] = []
    pyproject = project_root / "pyproject.toml"
    if pyproject.is_file():
        try:
            dependencies = list(tomllib.loads(pyproject.read_text()).get("project", {}).get("dependencies", []))
        except tomllib.TOMLDecodeError:
            dependencies = []
    if dependencies:
        quoted = " ".join(json.dumps(d) for d in dependencies)
        return lines + ["# the dependencies from pyproject.toml; or `python -m pip install .` if it is a package",
                        f"python -m pip install {quoted}"]
    return lines + ["# install what your models and migrations import, e.g. python -m pip install -r requirements.txt"]


def _main_branch(repo_root: Path) -> str:
    """main, unless the repository has a master branch and no main."""
    def has(ref: str) -> bool:
        try:
            return subprocess.run(["git", "rev-parse", "--verify", "--quiet", ref], cwd=repo_root,
                                  capture_output=True, check=False).returncode == 0
        except OSError:
            return False
    if not has("refs/heads/main") and has("refs/heads/master"):
        return "master"
    return "main"
