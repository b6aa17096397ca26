"""safemigrate rehearse on MariaDB/MySQL: durations and the stalls the probes feel are measured; what is not
(rewrites, WAL, and metadata locks where performance_schema is off) is said in the report."""

from __future__ import annotations

from pathlib import Path

import pytest
import test_rehearse
from helpers import execute, make_project, scalar, upgrade

from safemigrate.api import Project
from safemigrate.rehearsal.copies import CopySource
from safemigrate.rehearsal.rehearse import MYSQL_LIMITS

pytestmark = pytest.mark.mysql
copy_names = test_rehearse.copy_names  # the fixture: names of the throwaway databases this test made

WIDEN = 'op.alter_column("users", "name", type_=sa.String(200), existing_type=sa.String(50), existing_nullable=False)'
ADD_COLUMN = 'op.add_column("users", sa.Column("note", sa.Text))'


def _filled(root: Path, url: str, body: str, rows: int, lock_timeout: str | None = None) -> Path:
    project_dir = make_project(root / "app", body)
    if lock_timeout is not None:
        pyproject = project_dir / "pyproject.toml"
        pyproject.write_text(pyproject.read_text() + f'lock_timeout = "{lock_timeout}"\n')
    upgrade(project_dir, url, "0001")
    execute(url, f"INSERT INTO users (id, name) SELECT seq, md5(seq) FROM seq_10_to_{rows + 9}")
    return project_dir


def test_a_copying_alter_stalls_writers_for_its_duration(tmp_path: Path, mysql_url: str) -> None:
    project_dir = _filled(tmp_path, mysql_url, WIDEN, 100_000)
    report = Project.from_pyproject(project_dir).rehearse(source=CopySource(from_url=mysql_url))
    [row] = report.statements
    assert row.sql.startswith("ALTER TABLE users MODIFY name VARCHAR(200)")
    assert row.in_transaction is False and row.locks_sampled
    assert row.duration_ms > 50, "the copy was too fast to stall anything: use more rows"
    # ALGORITHM=COPY lets reads through and blocks writes while it copies: writers wait about as long as it runs
    assert row.writer_stall_ms.max is not None and row.writer_stall_ms.max >= 0.5 * row.duration_ms, row
    assert MYSQL_LIMITS in report.notes
    if row.locks:  # performance_schema on: the metadata locks it held were sampled
        assert "users" in {lock.relation for lock in row.locks}
    else:
        assert any(w.startswith("Locks not measured:") for w in report.warnings), report.warnings


def test_blocker_makes_writers_queue_behind_a_waiting_alter(tmp_path: Path, mysql_url: str) -> None:
    project_dir = _filled(tmp_path, mysql_url, ADD_COLUMN, 1_000, lock_timeout="0")
    report = Project.from_pyproject(project_dir).rehearse(source=CopySource(from_url=mysql_url), blocker_ms=1500)
    [row] = report.statements
    assert row.blocker is not None and row.blocker.tables == ["users"] and row.blocker.attempts == 1
    held = row.blocker.held_ms
    assert held is not None and held >= 1500
    # the ALTER waited for the reading transaction's metadata lock; the writers waited behind the ALTER
    assert row.duration_ms >= 0.7 * held, row
    assert row.writer_stall_ms.max is not None and row.writer_stall_ms.max >= 0.7 * held, row


def test_template_and_synthetic_copies_are_refused(tmp_path: Path, mysql_url: str) -> None:
    from safemigrate.core.errors import RehearsalRefused

    project_dir = make_project(tmp_path / "app", ADD_COLUMN)
    project = Project.from_pyproject(project_dir, database_url=mysql_url, scratch_url=mysql_url)
    with pytest.raises(RehearsalRefused, match="--rows makes PostgreSQL copies only"):
        project.rehearse(source=CopySource(rows=10))


def test_backup_restored_into_a_throwaway_mariadb_database(tmp_path: Path, mysql_url: str,
                                                           copy_names: list[str]) -> None:
    from conftest import configure_backup

    from safemigrate.backup import create as create_backup

    project_dir = _filled(tmp_path, mysql_url, WIDEN, 20_000)
    configure_backup(project_dir, url=str(tmp_path / "backups"))
    made = create_backup(Project.from_pyproject(project_dir, database_url=mysql_url), environment="production")
    execute(mysql_url, "DELETE FROM users")  # the copy is the backup's, not the live database
    report = Project.from_pyproject(project_dir, database_url=mysql_url).rehearse(source=CopySource(backup="latest"))
    assert report.copy.method == "backup" and report.copy.backup_id == made.id and report.copy.dropped
    [row] = report.statements
    assert row.sql.startswith("ALTER TABLE users MODIFY name VARCHAR(200)")
    assert row.duration_ms > 0 and row.writer_stall_ms.samples > 0
    assert scalar(mysql_url, "SELECT version_num FROM alembic_version") == "0001"  # the live database untouched
    assert scalar(mysql_url, "SELECT count(*) FROM users") == 0
    assert copy_names and all(scalar(mysql_url, f"SELECT count(*) FROM information_schema.schemata "
                                                f"WHERE schema_name = '{name}'") == 0 for name in copy_names)
