"""The hooks in .pre-commit-hooks.yaml, run by pre-commit itself (`pre-commit try-repo`) in a new git repository.

pre-commit builds the hooks' environment from this repository as a user's machine would (a virtualenv with
safemigrate installed from it), then runs each hook on the staged files of the shop example. The first run
builds that environment (cached under $PRE_COMMIT_HOME, as pre-commit does for its users).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import EXAMPLE, IN_CI, REPO, copy_project
from helpers import add_model_line

pytestmark = pytest.mark.slow

PRE_COMMIT = Path(sys.executable).with_name("pre-commit")

DROP_REVISION = '''"""drop the customers' phone

Revision ID: aa11bb22cc33
Revises: d5f6b1370600
"""
from alembic import op

revision = "aa11bb22cc33"
down_revision = "d5f6b1370600"
branch_labels = None
depends_on = None


def upgrade():
    op.drop_column("customers", "phone")


def downgrade():
    pass
'''


@pytest.fixture(scope="module")
def pre_commit() -> Path:
    if not PRE_COMMIT.exists():
        if IN_CI:
            pytest.fail("pre-commit is not installed (it is in the test extra): CI must run these tests")
        pytest.skip("pre-commit is not installed (pip install -e '.[test]')")
    return PRE_COMMIT


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, text=True)


def _repository(tmp_path: Path) -> Path:
    """The shop example in a new git repository, everything committed."""
    shop = copy_project(EXAMPLE, tmp_path)
    _git(shop, "init", "-q", "-b", "main")
    _git(shop, "config", "user.email", "dev@example.com")
    _git(shop, "config", "user.name", "dev")
    _git(shop, "add", ".")
    _git(shop, "commit", "-q", "-m", "shop")
    return shop


def _try_repo(pre_commit: Path, repo: Path, hook: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "SAFEMIGRATE_DATABASE_URL", "APP_ENV"}}
    env.setdefault("PRE_COMMIT_HOME", str(Path.home() / ".cache" / "pre-commit"))
    env["COLUMNS"] = "1000"
    # --ref HEAD: the hooks and the package as committed, what a user's `rev:` names (uncommitted work in this
    # checkout, possibly someone else's half-done change, is not what users install)
    return subprocess.run([str(pre_commit), "try-repo", str(REPO), hook, "--ref", "HEAD", "--verbose", *args],
                          cwd=repo, env=env, capture_output=True, text=True, timeout=900)


def test_the_manifest_is_valid(pre_commit: Path) -> None:
    result = subprocess.run([str(pre_commit), "validate-manifest", str(REPO / ".pre-commit-hooks.yaml")],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


def test_lint_hook_passes_then_fails_on_a_staged_drop(pre_commit: Path, tmp_path: Path) -> None:
    shop = _repository(tmp_path)
    clean = _try_repo(pre_commit, shop, "safemigrate-lint", "--all-files")
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert "safemigrate lint (changed revisions)" in clean.stdout and "Passed" in clean.stdout
    assert "11 revision(s)" in clean.stdout
    (shop / "migrations" / "versions" / "aa11bb22cc33_drop_phone.py").write_text(DROP_REVISION)
    _git(shop, "add", "migrations/versions/aa11bb22cc33_drop_phone.py")
    failed = _try_repo(pre_commit, shop, "safemigrate-lint")  # the staged files only
    out = failed.stdout + failed.stderr
    assert failed.returncode == 1, out
    assert "Failed" in out and "drop-column" in out and "aa11bb22cc33" in out
    assert "1 revision(s)" in out  # only the staged revision was linted


def test_check_hook_fails_on_a_model_change_without_its_migration(pre_commit: Path, tmp_path: Path) -> None:
    shop = _repository(tmp_path)
    assert _try_repo(pre_commit, shop, "safemigrate-check", "--all-files").returncode == 0
    add_model_line(shop, "Customer", "nickname: Mapped[str | None] = mapped_column(sa.String(40))")
    _git(shop, "add", "shop/models.py")
    failed = _try_repo(pre_commit, shop, "safemigrate-check")
    out = failed.stdout + failed.stderr
    assert failed.returncode == 1, out
    assert "safemigrate check (models vs. migrations)" in out and "Failed" in out
    assert "ALTER TABLE customers ADD COLUMN nickname VARCHAR(40);" in out
