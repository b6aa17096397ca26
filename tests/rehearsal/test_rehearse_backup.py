"""safemigrate rehearse --backup: one of safemigrate's own backups, restored into a throwaway database, is the copy."""

from __future__ import annotations

from pathlib import Path

import pytest
import test_rehearse
from conftest import configure_backup, run_safemigrate
from helpers import execute, make_project, scalar, upgrade
from test_rehearse import NAIVE_INDEX, _databases

from safemigrate.api import Project
from safemigrate.backup import create as create_backup
from safemigrate.core.errors import BackupNotFound
from safemigrate.rehearsal.copies import CopySource

pytestmark = pytest.mark.postgres
copy_names = test_rehearse.copy_names  # the fixture


def _backed_up(tmp_path: Path, url: str) -> tuple[Path, str]:
    project_dir = make_project(tmp_path / "app", NAIVE_INDEX)
    upgrade(project_dir, url, "0001")
    execute(url, "INSERT INTO users (id, name) SELECT g, md5(g::text) FROM generate_series(10, 20009) g")
    configure_backup(project_dir, url=str(tmp_path / "backups"))
    made = create_backup(Project.from_pyproject(project_dir, database_url=url), environment="production")
    return project_dir, made.id


def test_latest_backup_is_restored_rehearsed_and_dropped(tmp_path: Path, pg_url: str,
                                                         copy_names: list[str]) -> None:
    project_dir, backup_id = _backed_up(tmp_path, pg_url)
    execute(pg_url, "DELETE FROM users")  # the live database moved on: the copy is the backup's, not the live one
    report = Project.from_pyproject(project_dir, database_url=pg_url).rehearse(source=CopySource(backup="latest"))
    assert report.copy.method == "backup" and report.copy.backup_id == backup_id and report.copy.dropped
    assert report.revisions == ["0002"]
    [row] = report.statements
    assert row.sql == "CREATE INDEX ix_users_name ON users (name)"
    assert [(lock.relation, lock.mode) for lock in row.locks] == [("users", "SHARE")]
    assert row.wal_bytes and row.wal_bytes > 20_000 * 16  # the index of the backup's 20,003 rows was built
    assert copy_names and not set(copy_names) & _databases()
    assert scalar(pg_url, "SELECT version_num FROM alembic_version") == "0001"  # the live database untouched


def test_backup_by_id_on_the_command_line(tmp_path: Path, pg_url: str) -> None:
    project_dir, backup_id = _backed_up(tmp_path, pg_url)
    result = run_safemigrate("rehearse", "--backup", backup_id[:-2], "--format", "json", cwd=project_dir,
                             env={"DATABASE_URL": pg_url})
    assert result.returncode == 0, result.stderr
    assert f'"backup_id": "{backup_id}"' in result.stdout


def test_unknown_backup_exits_2_and_leaves_no_copy(tmp_path: Path, pg_url: str, copy_names: list[str]) -> None:
    project_dir, _ = _backed_up(tmp_path, pg_url)
    with pytest.raises(BackupNotFound, match="There is no backup 'nope'"):
        Project.from_pyproject(project_dir, database_url=pg_url).rehearse(source=CopySource(backup="nope"))
    assert not set(copy_names) & _databases()
    result = run_safemigrate("rehearse", "--backup", "nope", cwd=project_dir, env={"DATABASE_URL": pg_url})
    assert result.returncode == 2 and "There is no backup 'nope'" in result.stderr
    assert "Traceback" not in result.stderr


def test_sigterm_drops_the_restored_copy(tmp_path: Path, pg_url: str) -> None:
    import os
    import signal
    import subprocess
    import sys
    import time

    from conftest import POSTGRES_URL

    project_dir = make_project(tmp_path / "app", 'op.execute("SELECT pg_sleep(60)")')
    upgrade(project_dir, pg_url, "0001")
    configure_backup(project_dir, url=str(tmp_path / "backups"))
    create_backup(Project.from_pyproject(project_dir, database_url=pg_url), environment="production")
    before = _databases()
    full_env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "SAFEMIGRATE_DATABASE_URL"}}
    process = subprocess.Popen([str(Path(sys.executable).with_name("safemigrate")), "rehearse", "--backup", "latest"],
                               cwd=project_dir, env={**full_env, "DATABASE_URL": pg_url},
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 90
    ours: set[str] = set()
    while not ours:  # the backup is restored into the copy and the revision sleeps in it
        assert time.monotonic() < deadline and process.poll() is None, process.communicate()
        ours = {name for name in _databases() - before
                if scalar(POSTGRES_URL, "SELECT count(*) FROM pg_stat_activity WHERE datname = "
                          f"'{name}' AND query LIKE '%pg_sleep%'")}
        time.sleep(0.1)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 128 + signal.SIGTERM, stderr
    assert not ours & _databases()
