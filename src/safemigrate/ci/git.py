"""The few git operations ``safemigrate ci`` needs, with clear failures.

git is run as a subprocess (the user's own git, with its configuration and
credentials); nothing here parses more of git than one command's output.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from safemigrate.core.errors import GitError, UsageError


@dataclass(frozen=True)
class Identity:
    """A commit author: ``Name <email>``."""

    name: str
    email: str

    @classmethod
    def parse(cls, text: str) -> Identity:
        name, sep, rest = text.strip().partition("<")
        if not sep or not rest.endswith(">") or not name.strip() or "@" not in rest:
            raise UsageError(f"--author {text!r} is not of the form 'Name <email>'.",
                             "git records a name and an e-mail address for every commit.",
                             "Write it as --author 'Migration Bot <bot@example.com>'.")
        return cls(name.strip(), rest[:-1].strip())

    def __str__(self) -> str:
        return f"{self.name} <{self.email}>"


#: Who commits when neither --author nor git's own configuration names anyone (GitHub's bot account).
GITHUB_ACTIONS_BOT = Identity("github-actions[bot]", "41898282+github-actions[bot]@users.noreply.github.com")


class Git:
    """One repository's git, run in its top-level folder."""

    def __init__(self, top: Path):
        self.top = top

    @classmethod
    def containing(cls, folder: Path) -> Git:
        """The repository that holds ``folder``."""
        result = _run(["git", "rev-parse", "--show-toplevel"], folder, check=False)
        if result.returncode != 0:
            raise GitError(f"{folder} is not inside a git repository.",
                           "safemigrate ci compares the migrations of this checkout with another git ref.",
                           "Run it in a clone of the repository (in GitHub Actions: after actions/checkout).")
        return cls(Path(result.stdout.strip()).resolve())

    def run(self, *args: str, check: bool = True, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
        result = _run(["git", *args], self.top, check=False, env=env)
        if check and result.returncode != 0:
            raise GitError(f"`git {' '.join(args)}` failed: {_last_line(result)}",
                           "safemigrate ci needs this git command to inspect or update the repository.",
                           "Run the same command yourself to see the full message.")
        return result

    def out(self, *args: str) -> str:
        return self.run(*args).stdout.strip()

    def resolve(self, ref: str) -> str | None:
        """The commit id of ``ref``, or None when there is no such commit."""
        result = self.run("rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}", check=False)
        return result.stdout.strip() or None if result.returncode == 0 else None

    def merge_base(self, a: str, b: str) -> str | None:
        result = self.run("merge-base", a, b, check=False)
        return result.stdout.strip() or None if result.returncode == 0 else None

    def files(self, commit: str, folder: str) -> dict[str, str]:
        """Path (relative to the top) -> blob id of every file under ``folder`` at ``commit``."""
        result = self.run("ls-tree", "-r", "-z", commit, "--", folder or ".")
        found: dict[str, str] = {}
        for entry in result.stdout.split("\0"):
            if not entry:
                continue
            meta, _, path = entry.partition("\t")
            mode, kind, blob = meta.split()
            if kind == "blob":
                found[path] = blob
        return found

    def blob(self, blob: str) -> bytes:
        result = subprocess.run(["git", "cat-file", "blob", blob], cwd=self.top, capture_output=True, check=False)
        if result.returncode != 0:
            raise GitError(f"git could not read object {blob}.", "The repository may be incomplete.",
                           "Fetch the full history (actions/checkout with fetch-depth: 0).")
        return result.stdout

    def branch(self) -> str | None:
        result = self.run("symbolic-ref", "--quiet", "--short", "HEAD", check=False)
        return result.stdout.strip() or None if result.returncode == 0 else None

    def configured_identity(self) -> Identity | None:
        name = self.run("config", "user.name", check=False).stdout.strip()
        email = self.run("config", "user.email", check=False).stdout.strip()
        return Identity(name, email) if name and email else None


def identity_env(identity: Identity, *, committer: bool) -> dict[str, str]:
    env = {"GIT_AUTHOR_NAME": identity.name, "GIT_AUTHOR_EMAIL": identity.email}
    if committer:
        env.update(GIT_COMMITTER_NAME=identity.name, GIT_COMMITTER_EMAIL=identity.email)
    return env


def _run(args: list[str], cwd: Path, *, check: bool, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    full_env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C", **(env or {})}
    try:
        return subprocess.run(args, cwd=cwd, capture_output=True, text=True, check=check, env=full_env)
    except FileNotFoundError:
        raise GitError("git is not installed (or not on PATH).", "safemigrate ci runs git to compare revisions.",
                       "Install git.") from None


def _last_line(result: subprocess.CompletedProcess) -> str:
    text = (result.stderr or result.stdout or "").strip().splitlines()
    return text[-1] if text else f"exit status {result.returncode}"
