"""Local files: commands find the project from a subfolder and create nothing there; init keeps them out of git."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from conftest import EXAMPLE, copy_project, run_safemigrate

from safemigrate.core.urls import anchored, parse_url
from safemigrate.init.adopt import init_project


@pytest.fixture
def shop(tmp_path: Path) -> Path:
    return copy_project(EXAMPLE, tmp_path / "shop")


def _files(folder: Path) -> set[str]:
    return {p.name for p in folder.iterdir() if p.name != "__pycache__"}


@pytest.mark.slow
def test_commands_started_in_a_subfolder_use_the_project_and_leave_the_subfolder_alone(shop):
    subfolder = shop / "shop"
    before = _files(subfolder)
    env = {"APP_ENV": "development"}  # database_url = "sqlite:///shop.db" in pyproject.toml
    assert run_safemigrate("config", cwd=subfolder, env=env).returncode == 0
    status = run_safemigrate("status", cwd=subfolder, env=env)
    assert status.returncode == 1 and "11 revision(s) not applied" in status.stdout, status.stdout + status.stderr
    migrate = run_safemigrate("migrate", cwd=subfolder, env=env)
    assert migrate.returncode == 0, migrate.stdout + migrate.stderr
    assert _files(subfolder) == before  # no dev database, no lock file
    assert (shop / "shop.db").is_file() and (shop / "shop.db.safemigrate.lock").exists()
    assert run_safemigrate("status", cwd=shop, env=env).returncode == 0  # the same database, from the root


def test_config_does_not_create_a_sqlite_file_it_was_asked_to_reach(shop):
    result = run_safemigrate("config", cwd=shop)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "the file does not exist yet" in result.stdout
    assert not (shop / "shop.db").exists()


def test_a_relative_sqlite_file_is_read_from_the_project_folder(tmp_path, monkeypatch):
    (tmp_path / "sub").mkdir()
    monkeypatch.chdir(tmp_path / "sub")
    assert anchored(parse_url("sqlite:///dev.db"), tmp_path).database == str(tmp_path.resolve() / "dev.db")
    for kept in ("sqlite://", "sqlite:///:memory:", "sqlite:////abs/dev.db", "postgresql://u@h/dev.db"):
        assert anchored(parse_url(kept), tmp_path) == parse_url(kept)
    monkeypatch.chdir(tmp_path)  # started in the project folder: kept as written
    assert anchored(parse_url("sqlite:///dev.db"), tmp_path).database == "dev.db"


def test_init_keeps_the_cache_and_the_lock_files_out_of_git(tmp_path):
    (tmp_path / ".gitignore").write_text("__pycache__/")  # no newline at the end
    report = init_project(tmp_path)
    lines = (tmp_path / ".gitignore").read_text().splitlines()
    assert lines[0] == "__pycache__/" and ".safemigrate/" in lines and "*.safemigrate.lock" in lines
    assert ".gitignore (.safemigrate/, *.safemigrate.lock)" in report.written
    again = init_project(tmp_path)  # a second init adds nothing twice
    assert (tmp_path / ".gitignore").read_text().splitlines() == lines
    assert not any(w.startswith(".gitignore") for w in again.written)


def test_init_creates_the_gitignore_when_there_is_none(tmp_path):
    init_project(tmp_path)
    assert {".safemigrate/", "*.safemigrate.lock"} <= set((tmp_path / ".gitignore").read_text().splitlines())
    assert os.access(tmp_path / ".gitignore", os.R_OK)
