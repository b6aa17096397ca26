"""The GitHub Actions workflows `safemigrate init --github` writes, checked with actionlint."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import IN_CI

import safemigrate
from safemigrate.init.adopt import init_project
from safemigrate.init.workflows import AUTOFIX, PR_CHECK

SCRATCH = "postgresql://postgres:postgres@localhost:5432/postgres"


def _actionlint() -> str:
    found = shutil.which("actionlint", path=str(Path(sys.executable).parent)) or shutil.which("actionlint")
    if found is None:
        message = "actionlint is not installed (it comes with the test extra: pip install -e '.[test]')"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    return found


def _git_init(folder: Path) -> None:
    subprocess.run(["git", "init", "--quiet", "-b", "main", str(folder)], check=True)


def _load(path: Path) -> dict:
    data = yaml.safe_load(path.read_text())
    data["on"] = data.pop(True, data.get("on"))  # YAML 1.1 reads the key `on` as true
    return data


def test_init_github_writes_both_workflows_and_actionlint_accepts_them(shop):
    _git_init(shop)
    report = init_project(shop, metadata="shop.models:Base.metadata", github=True)

    folder = shop / ".github" / "workflows"
    assert f".github/workflows/{PR_CHECK}" in report.written and f".github/workflows/{AUTOFIX}" in report.written
    result = subprocess.run([_actionlint(), "-no-color", str(folder / PR_CHECK), str(folder / AUTOFIX)],
                            cwd=shop, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr

    check = _load(folder / PR_CHECK)
    assert check["on"] == {"pull_request": None}
    assert check["permissions"] == {"contents": "read"}
    job = check["jobs"]["migrations"]
    assert job["services"]["postgres"]["image"].startswith("postgres:")
    assert job["services"]["postgres"]["ports"] == ["5432:5432"]
    steps = job["steps"]
    # pinned by commit, and no token left in .git while dependencies install and the project's code runs
    assert steps[0] == {"uses": "actions/checkout@08c6903cd8c0fde910a37f88322edcfb5dd907a8",
                        "with": {"persist-credentials": False, "fetch-depth": 0}}
    assert steps[1]["uses"] == "actions/setup-python@e797f83bcb11b83ae66e0230d6156d7c80228e7c"
    assert "# v5.0.0" in (folder / PR_CHECK).read_text() and "# v6.0.0" in (folder / PR_CHECK).read_text()
    assert f'python -m pip install "safemigrate=={safemigrate.__version__}"' in steps[2]["run"]
    assert '"SQLAlchemy>=2.0" "alembic>=1.13"' in steps[2]["run"]  # the project's own dependencies
    assert steps[3]["env"] == {"BASE_REF": "${{ github.base_ref }}"}
    assert steps[3]["run"] == f'safemigrate ci check --base "origin/$BASE_REF" --scratch-url {SCRATCH}'
    assert "defaults" not in job  # the project is the repository's root

    autofix = _load(folder / AUTOFIX)
    assert autofix["on"] == {"push": {"branches": ["main"]}}
    assert autofix["permissions"] == {"contents": "write"}
    assert autofix["concurrency"] == {"group": "migration-autofix-${{ github.ref }}", "cancel-in-progress": False}
    job = autofix["jobs"]["autofix"]
    assert "postgres" in job["services"]
    assert job["steps"][0]["with"]["persist-credentials"] is False
    generate, push = job["steps"][-2], job["steps"][-1]
    assert generate["run"].startswith(f"safemigrate ci autofix --scratch-url {SCRATCH} --author ")
    assert "env" not in generate  # the step that runs project code holds no token
    assert push["env"] == {"TOKEN": "${{ secrets.GITHUB_TOKEN }}"} and "safemigrate" not in push["run"]
    assert 'push origin "HEAD:main"' in push["run"]


def test_project_in_a_subfolder_gets_a_working_directory_and_existing_files_are_kept(tmp_path, shop):
    repo = tmp_path / "monorepo"
    repo.mkdir()
    _git_init(repo)
    subprocess.run(["git", "-C", str(repo), "commit", "--quiet", "--allow-empty", "-m", "start"], check=True,
                   env={"GIT_AUTHOR_NAME": "a", "GIT_AUTHOR_EMAIL": "a@x", "GIT_COMMITTER_NAME": "a",
                        "GIT_COMMITTER_EMAIL": "a@x", "PATH": "/usr/bin:/bin"})
    subprocess.run(["git", "-C", str(repo), "branch", "-m", "master"], check=True)
    project = repo / "services" / "shop"
    shutil.copytree(shop, project)
    (project / "requirements.txt").write_text("SQLAlchemy>=2.0\nalembic>=1.13\n")
    kept = repo / ".github" / "workflows" / PR_CHECK
    kept.parent.mkdir(parents=True)
    kept.write_text("# ours\n")

    report = init_project(project, github=True)

    assert kept.read_text() == "# ours\n"
    assert any(PR_CHECK in note and "already exists" in note for note in report.notes)
    autofix = repo / ".github" / "workflows" / AUTOFIX
    data = _load(autofix)
    assert data["on"] == {"push": {"branches": ["master"]}}  # the repository has no main
    job = data["jobs"]["autofix"]
    assert job["defaults"] == {"run": {"working-directory": "services/shop"}}
    assert "python -m pip install -r requirements.txt" in job["steps"][2]["run"]
    result = subprocess.run([_actionlint(), "-no-color", str(autofix)], cwd=repo, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


def test_init_github_from_the_command_line(shop, cli):
    _git_init(shop)
    result = cli("init", "--project", str(shop), "--github")
    assert result.exit_code == 0, result.output
    assert (shop / ".github" / "workflows" / PR_CHECK).is_file()
    assert (shop / ".github" / "workflows" / AUTOFIX).is_file()
