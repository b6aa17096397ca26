"""require_rehearsal: production migrates only revisions rehearsed, passing, recently, from the files as they are.

The rehearsal records itself in the project's database (safemigrate_rehearsals) when require_rehearsal is set;
the production preflight reads it there.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import configure_backup, run_safemigrate
from helpers import execute, make_project, scalar, upgrade

from safemigrate.api import Project
from safemigrate.rehearsal.copies import CopySource

pytestmark = pytest.mark.postgres


def _project(tmp_path: Path, url: str) -> Path:
    project_dir = make_project(tmp_path / "app", 'op.execute("ANALYZE users")')
    upgrade(project_dir, url, "0001")
    configure_backup(project_dir, url=str(tmp_path / "backups"))
    pyproject = project_dir / "pyproject.toml"
    pyproject.write_text(pyproject.read_text() + '\n[tool.safemigrate.rehearsal]\nrequire_rehearsal = "7d"\n'
                         'max_writer_stall = "30s"\n')
    return project_dir


def _gate(project_dir: Path, url: str, server: str):
    report = Project.from_pyproject(project_dir, database_url=url, scratch_url=server,
                                    environment="production").migrate(dry_run=True)
    [check] = [c for c in report.checks if c.name == "rehearsed"]
    return check, report


def _rehearse(project_dir: Path, url: str, server: str):
    return Project.from_pyproject(project_dir, database_url=url, scratch_url=server).rehearse(
        source=CopySource(rows=100))


def test_production_needs_a_fresh_passing_rehearsal_of_the_current_file(tmp_path: Path, pg_url: str,
                                                                        pg_server: str) -> None:
    project_dir = _project(tmp_path, pg_url)
    check, report = _gate(project_dir, pg_url, pg_server)
    assert not check.ok and not report.ok
    assert 'require_rehearsal = "7d"' in check.message and "0002: never rehearsed" in check.message
    assert "`safemigrate rehearse --template`" in check.fix and "safemigrate_rehearsals" in check.fix
    assert [c.name for c in report.checks if not c.ok] == ["rehearsed"]  # nothing else stands in the way

    rehearsal = _rehearse(project_dir, pg_url, pg_server)
    assert rehearsal.ok and rehearsal.recorded and "safemigrate_rehearsals" in rehearsal.recorded
    check, report = _gate(project_dir, pg_url, pg_server)
    assert check.ok and report.ok, [(c.name, c.message) for c in report.checks if not c.ok]

    revision = project_dir / "migrations" / "versions" / "0002_change.py"
    revision.write_text(revision.read_text().replace('op.execute("ANALYZE users")', 'op.execute("ANALYZE users")\n'
                                                     '    op.execute("ANALYZE")'))
    check, _ = _gate(project_dir, pg_url, pg_server)
    assert not check.ok and "0002: its file changed after it was rehearsed" in check.message

    _rehearse(project_dir, pg_url, pg_server)
    assert _gate(project_dir, pg_url, pg_server)[0].ok
    execute(pg_url, "UPDATE safemigrate_rehearsals SET rehearsed_at = rehearsed_at - interval '8 days'")
    check, _ = _gate(project_dir, pg_url, pg_server)
    assert not check.ok and "is older than 7d" in check.message

    _rehearse(project_dir, pg_url, pg_server)
    applied = Project.from_pyproject(project_dir, database_url=pg_url, scratch_url=pg_server,
                                     environment="production").migrate()
    assert applied.ok and [a.revision for a in applied.applied] == ["0002"]


def test_a_rehearsal_over_budget_does_not_count(tmp_path: Path, pg_url: str, pg_server: str) -> None:
    project_dir = _project(tmp_path, pg_url)
    result = run_safemigrate("rehearse", "--rows", "100", "--scratch-url", pg_server, "--max-duration", "0.001ms",
                             cwd=project_dir, env={"DATABASE_URL": pg_url})
    assert result.returncode == 1, result.stderr
    assert "over budget (it does not count as a passing rehearsal)" in result.stdout
    assert scalar(pg_url, "SELECT count(*) FROM safemigrate_rehearsals WHERE NOT ok") == 1
    check, _ = _gate(project_dir, pg_url, pg_server)
    assert not check.ok and "0002: its rehearsal on" in check.message and "went over budget" in check.message


def test_not_recorded_unless_required_or_asked(tmp_path: Path, pg_url: str, pg_server: str) -> None:
    project_dir = make_project(tmp_path / "app", 'op.execute("ANALYZE users")')
    upgrade(project_dir, pg_url, "0001")
    assert _rehearse(project_dir, pg_url, pg_server).recorded is None
    assert scalar(pg_url, "SELECT to_regclass('safemigrate_rehearsals') IS NULL")
    result = run_safemigrate("rehearse", "--rows", "100", "--scratch-url", pg_server, "--record",
                             cwd=project_dir, env={"DATABASE_URL": pg_url})
    assert result.returncode == 0, result.stderr
    assert scalar(pg_url, "SELECT count(*) FROM safemigrate_rehearsals WHERE ok AND copy = 'synthetic'") == 1


def test_a_bad_require_rehearsal_is_a_config_error(tmp_path: Path) -> None:
    project_dir = make_project(tmp_path / "app", 'op.execute("ANALYZE users")')
    pyproject = project_dir / "pyproject.toml"
    pyproject.write_text(pyproject.read_text() + '\n[tool.safemigrate.rehearsal]\nrequire_rehearsal = "weekly"\n')
    result = run_safemigrate("status", cwd=project_dir)
    assert result.returncode == 2
    assert "require_rehearsal = 'weekly' is not a duration" in result.stderr


def test_an_unreachable_database_is_said_not_recorded_and_no_password_shown(tmp_path: Path, pg_server: str) -> None:
    project_dir = make_project(tmp_path / "app", 'op.execute("ANALYZE users")')
    missing = "postgresql+psycopg://postgres:s3cret-pw@127.0.0.1:5432/safemigrate_no_such_db"
    result = run_safemigrate("rehearse", "--rows", "100", "--scratch-url", pg_server, "--record",
                             cwd=project_dir, env={"DATABASE_URL": missing})
    assert result.returncode == 0, result.stderr  # the rehearsal itself passed
    assert "This rehearsal was not recorded in" in result.stdout
    assert "require_rehearsal cannot count it" in result.stdout
    assert "s3cret-pw" not in result.stdout + result.stderr
