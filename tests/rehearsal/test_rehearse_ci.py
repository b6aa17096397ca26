"""safemigrate ci check --rehearse: the branch's new revisions rehearsed on a synthetic copy; the verdict joins
the CI result and its job summary."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import test_ci
import tomlkit
from helpers import add_model_line
from test_ci import NICKNAME, add_nickname_revision, ci, commit_all, git

pytestmark = pytest.mark.postgres
repo = test_ci.repo  # the fixture: the shop example in a git repository with a bare remote


def _rehearsal_settings(project: Path, **settings: object) -> None:
    path = project / "pyproject.toml"
    document = tomlkit.parse(path.read_text())
    table = tomlkit.table()
    for key, value in settings.items():
        table[key] = value
    document["tool"]["safemigrate"]["rehearsal"] = table  # type: ignore[index]
    path.write_text(tomlkit.dumps(document))


def _branch(repo: Path, **settings: object) -> None:
    git(repo, "checkout", "--quiet", "-b", "feature")
    add_model_line(repo, "Customer", NICKNAME)
    add_nickname_revision(repo)
    if settings:
        _rehearsal_settings(repo, **settings)
    commit_all(repo, "nickname")


def test_a_rehearsal_within_budget_passes_and_is_in_the_summary(repo: Path, tmp_path: Path, pg_server: str) -> None:
    _branch(repo, rows=2000, max_writer_stall="30s")
    summary = tmp_path / "summary.md"
    result = ci(repo, "check", "--base", "origin/main", "--scratch-url", pg_server, "--rehearse", summary=summary)
    assert result.returncode == 0, result.stdout + result.stderr
    text = summary.read_text()
    assert "| :white_check_mark: | Rehearsal | 1 statement(s) on a synthetic copy, within budget |" in text
    assert "### safemigrate rehearse: ✅ within budget" in text
    assert "ALTER TABLE customers ADD COLUMN nickname VARCHAR(40)" in text[text.index("### safemigrate rehearse"):]
    assert "filled customers: " in text  # the synthetic copy, in the details
    as_json = ci(repo, "check", "--base", "origin/main", "--scratch-url", pg_server, "--rehearse", "--format", "json")
    data = json.loads(as_json.stdout)
    assert data["rehearsal"]["ok"] is True and data["rehearsal"]["kind"] == "rehearsal"
    assert [row["revision"] for row in data["rehearsal"]["statements"]] == ["a1b2c3d4e5f6"]
    assert data["rehearsal"]["statements"][0]["verdict"] == "ok"


def test_a_statement_over_budget_fails_the_check(repo: Path, tmp_path: Path, pg_server: str) -> None:
    _branch(repo, rows=2000, max_duration="0.001ms")
    summary = tmp_path / "summary.md"
    result = ci(repo, "check", "--base", "origin/main", "--scratch-url", pg_server, "--rehearse", summary=summary)
    assert result.returncode == 1, result.stdout + result.stderr
    text = summary.read_text()
    assert "## safemigrate ci check: :x: migrations need attention" in text
    assert "| :x: | Rehearsal | 1 statement(s) on a synthetic copy, 1 over budget |" in text
    assert "ran for" in text and "budget 0 ms" in text
    assert "✗ migrations need attention" in result.stdout
    # without --rehearse the same branch passes: the verdict is the rehearsal's
    assert ci(repo, "check", "--base", "origin/main", "--scratch-url", pg_server).returncode == 0


def test_rehearse_without_rows_configured_is_a_usage_error(repo: Path, pg_server: str) -> None:
    _branch(repo)
    result = ci(repo, "check", "--base", "origin/main", "--scratch-url", pg_server, "--rehearse")
    assert result.returncode == 2, result.stdout + result.stderr
    assert "[tool.safemigrate.rehearsal] has no rows" in result.stderr
    assert "Traceback" not in result.stderr


def test_rehearse_without_a_postgresql_scratch_server_is_a_usage_error(repo: Path) -> None:
    _branch(repo, rows=100)
    result = ci(repo, "check", "--base", "origin/main", "--rehearse")
    assert result.returncode == 2, result.stdout + result.stderr
    assert "ci check --rehearse needs a PostgreSQL server for the synthetic copy" in result.stderr
    assert "Pass --scratch-url postgresql://" in result.stderr
