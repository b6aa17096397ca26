"""safemigrate rehearse --blocker: a long transaction on the table first, and the lock queue it causes.

A naive ALTER TABLE needs ACCESS EXCLUSIVE. Behind a session that merely read the table (ACCESS SHARE) it
waits, and every write that arrives after it waits behind it: the writer stall grows to the blocker's
length. With lock_timeout the statement gives up and is retried, and the stall is bounded by the timeout.
Every comparison is with durations measured in the same run (the blocker's own hold), never with fixed
sleeps: a loaded two-core machine stretches both alike.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import run_safemigrate
from helpers import execute, make_project, upgrade

from safemigrate.api import Project
from safemigrate.rehearsal.copies import CopySource

pytestmark = pytest.mark.postgres

ADD_COLUMN = 'op.add_column("users", sa.Column("note", sa.Text))'


def _project(root: Path, url: str, lock_timeout: str) -> Path:
    project_dir = make_project(root / "app", ADD_COLUMN)
    pyproject = project_dir / "pyproject.toml"
    pyproject.write_text(pyproject.read_text() + f'lock_timeout = "{lock_timeout}"\n')
    upgrade(project_dir, url, "0001")
    execute(url, "INSERT INTO users (id, name) SELECT g, md5(g::text) FROM generate_series(10, 1009) g")
    return project_dir


def test_without_lock_timeout_writers_queue_for_the_whole_blocker(tmp_path: Path, pg_url: str) -> None:
    project_dir = _project(tmp_path, pg_url, "0")
    report = Project.from_pyproject(project_dir).rehearse(source=CopySource(from_url=pg_url), blocker_ms=1500)
    [row] = report.statements
    assert row.blocker is not None and row.blocker.tables == ["users"]
    assert row.blocker.attempts == 1 and row.blocker.lock_waits_ms == [] and row.blocker.lock_timeout_ms == 0
    held = row.blocker.held_ms
    assert held is not None and held >= 1500
    # the ALTER waited for the reader to finish, and the writers queued behind the ALTER all that time
    assert row.duration_ms >= 0.7 * held, row
    assert row.writer_stall_ms.max is not None and row.writer_stall_ms.max >= 0.7 * held, row
    assert row.reader_stall_ms.max is not None and row.reader_stall_ms.max >= 0.7 * held, row  # ACCESS EXCLUSIVE
    assert any("behind a session holding users" in w and "no lock_timeout" in w for w in report.warnings)


def test_lock_timeout_bounds_the_stall_and_the_revision_is_retried(tmp_path: Path, pg_url: str) -> None:
    project_dir = _project(tmp_path, pg_url, "300ms")
    report = Project.from_pyproject(project_dir).rehearse(source=CopySource(from_url=pg_url), blocker_ms=2000)
    [row] = report.statements
    blocker = row.blocker
    assert blocker is not None and blocker.lock_timeout_ms == 300
    assert blocker.attempts >= 2 and len(blocker.lock_waits_ms) == blocker.attempts - 1  # gave up, then got it
    assert all(wait >= 290 for wait in blocker.lock_waits_ms)  # the server never gives up before lock_timeout
    held = blocker.held_ms
    assert held is not None and held >= 2000
    stall = row.writer_stall_ms.max
    # writers still queued while the first attempt waited, but only about as long as it did: not the whole hold
    assert stall is not None and stall >= 0.5 * min(blocker.lock_waits_ms), row
    assert stall < 0.5 * held, row
    assert report.ok and row.verdict == "ok"
    assert any("lock_timeout 300 ms" in w and "gave up after" in w for w in report.warnings), report.warnings


def test_every_retry_timing_out_is_reported_as_production_would_stop(tmp_path: Path, pg_url: str) -> None:
    project_dir = _project(tmp_path, pg_url, "200ms")
    result = run_safemigrate("rehearse", "--from-url", pg_url, "--blocker", "4s", "--retries", "1",
                             "--format", "json", cwd=project_dir)
    assert result.returncode == 1, result.stderr
    import json

    data = json.loads(result.stdout)
    [row] = data["statements"]
    assert row["verdict"] == "lock timeout" and data["ok"] is False
    assert row["sql"] == "ALTER TABLE users ADD COLUMN note TEXT" and row["blocker"]["tables"] == ["users"]
    assert row["blocker"]["gave_up"] is True and row["blocker"]["attempts"] == 2
    assert "would stop here" in row["exceeded"][0]


def test_statements_on_a_held_table_share_the_session_and_writes_pass_it(tmp_path: Path, pg_url: str) -> None:
    body = "\n".join(f'op.execute("UPDATE users SET name = name WHERE id = {i}")' for i in (1, 2, 3))
    project_dir = make_project(tmp_path / "app", body)
    upgrade(project_dir, pg_url, "0001")
    report = Project.from_pyproject(project_dir).rehearse(source=CopySource(from_url=pg_url), blocker_ms=1500)
    rows = report.statements
    assert len(rows) == 3 and all(row.blocker is not None for row in rows)
    # one blocking session for the three (it still held users when the second and third came): one hold, which
    # ended with the run (nothing was left to hold up)
    assert len({row.blocker.held_ms for row in rows if row.blocker}) == 1
    # an UPDATE's ROW EXCLUSIVE does not conflict with a reader's ACCESS SHARE: none waited for the 1.5 s hold
    assert all(row.duration_ms < 750 and row.blocker and row.blocker.attempts == 1 for row in rows), rows


def test_a_revision_committed_before_the_retried_one_keeps_its_rows(tmp_path: Path, pg_url: str) -> None:
    project_dir = _project(tmp_path, pg_url, "300ms")
    versions = project_dir / "migrations" / "versions"
    second = versions / "0002_change.py"
    second.write_text(second.read_text().replace(ADD_COLUMN, 'op.execute("UPDATE users SET name = name WHERE id = 1")'))
    (versions / "0003_more.py").write_text(second.read_text().replace('"0002"', '"0003"').replace(
        'down_revision = "0001"', 'down_revision = "0002"').replace(
        'op.execute("UPDATE users SET name = name WHERE id = 1")', ADD_COLUMN))
    report = Project.from_pyproject(project_dir).rehearse(source=CopySource(from_url=pg_url), blocker_ms=2000)
    # 0002 committed in the first attempt; 0003 timed out there and went through on a retry, which started
    # after 0002: both are reported, once each
    assert [(row.revision, row.sql.split()[0]) for row in report.statements] == [("0002", "UPDATE"),
                                                                                ("0003", "ALTER")]
    blocker = report.statements[1].blocker
    assert blocker is not None and blocker.attempts >= 2 and blocker.lock_waits_ms
