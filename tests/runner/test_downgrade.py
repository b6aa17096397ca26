"""verify-downgrade and the production downgrade policy."""

from __future__ import annotations

import json

import pytest
from conftest import configure_backup, run_safemigrate
from helpers import scalar, upgrade

from safemigrate import Project
from safemigrate.runner.downgrade import verify_downgrade


def _break_downgrade(shop, revision: str, old: str, new: str) -> None:
    path = next((shop / "migrations" / "versions").glob(f"{revision}_*.py"))
    source = path.read_text()
    head, _, tail = source.partition("def downgrade")
    assert old in tail, tail
    path.write_text(head + "def downgrade" + tail.replace(old, new, 1))


def test_example_round_trips(shop):
    report = verify_downgrade(Project.from_pyproject(shop))
    assert report.ok and len(report.revisions) == 11


@pytest.mark.postgres
def test_example_round_trips_on_postgres(shop, pg_server):
    report = verify_downgrade(Project.from_pyproject(shop, scratch_url=pg_server), "916a526e23a8:head")
    assert report.ok and [r.revision for r in report.revisions] == ["36c914febd34", "359940d6ad08", "d5f6b1370600"]


def test_downgrade_that_leaves_a_column_behind(shop):
    # d5f6b1370600 adds customers.loyalty_points; make its downgrade forget to drop it
    path = next((shop / "migrations" / "versions").glob("d5f6b1370600_*.py"))
    source = path.read_text()
    head, _, tail = source.partition("def downgrade")
    body_start = tail.index(":\n") + 2
    path.write_text(head + "def downgrade" + tail[:body_start] + "    pass\n")
    report = verify_downgrade(Project.from_pyproject(shop), "359940d6ad08:head")
    assert not report.ok
    broken = report.revisions[0]
    assert (broken.revision, broken.stage) == ("d5f6b1370600", "restore")
    assert any("loyalty_points" in d for d in broken.differences)


def test_downgrade_that_fails(shop):
    path = next((shop / "migrations" / "versions").glob("916a526e23a8_*.py"))
    source = path.read_text()
    head, _, tail = source.partition("def downgrade")
    body_start = tail.index(":\n") + 2
    path.write_text(head + "def downgrade" + tail[:body_start] + "    op.drop_table('no_such_table')\n")
    report = verify_downgrade(Project.from_pyproject(shop), "4f241768b312:916a526e23a8")
    assert [(r.revision, r.stage, r.ok) for r in report.revisions] == [("916a526e23a8", "downgrade", False)]
    assert "no_such_table" in report.revisions[0].message
    result = run_safemigrate("verify-downgrade", "4f241768b312:916a526e23a8", cwd=shop)
    assert result.returncode == 1 and "916a526e23a8 downgrade" in result.stdout


@pytest.mark.slow
def test_production_downgrade_needs_the_flag_a_backup_and_leaves_a_ledger_row(shop, sqlite_url, tmp_path):
    upgrade(shop, sqlite_url)
    refused = run_safemigrate("downgrade", "-1", "--env", "production", "--database-url", sqlite_url, cwd=shop)
    assert refused.returncode == 2 and "fix-forward" in refused.stderr
    assert "--allow-production-downgrade" in refused.stderr
    assert scalar(sqlite_url, "SELECT version_num FROM alembic_version") == "d5f6b1370600"

    # without a backup destination, production does not downgrade either
    no_backup = run_safemigrate("downgrade", "-1", "--env", "production", "--allow-production-downgrade",
                                "--database-url", sqlite_url, cwd=shop)
    assert no_backup.returncode == 2 and "backup" in no_backup.stderr
    assert scalar(sqlite_url, "SELECT version_num FROM alembic_version") == "d5f6b1370600"

    configure_backup(shop, url=str(tmp_path / "backups"))
    done = run_safemigrate("downgrade", "-1", "--env", "production", "--allow-production-downgrade",
                           "--database-url", sqlite_url, "--format", "json", cwd=shop)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["revisions"] == ["d5f6b1370600"] and result["backup"]
    assert scalar(sqlite_url, "SELECT version_num FROM alembic_version") == "359940d6ad08"
    assert (tmp_path / "backups" / f"{result['backup']}.manifest.json").exists()
    row = scalar(sqlite_url, "SELECT action || ' ' || backup_id FROM safemigrate_history ORDER BY id DESC LIMIT 1")
    assert row == f"downgraded {result['backup']}"
    # the rehearsal's SQL is what was shown: the revision's downgrade
    assert any("DROP" in s["sql"].upper() for run in result["rehearsal"] for s in run["statements"])


def test_dry_run_shows_the_sql_and_changes_nothing(shop, sqlite_url):
    upgrade(shop, sqlite_url)
    before = scalar(sqlite_url, "SELECT count(*) FROM sqlite_master")
    dry = run_safemigrate("downgrade", "-2", "--env", "production", "--dry-run", "--database-url", sqlite_url,
                          cwd=shop)
    assert dry.returncode == 0, dry.stderr
    assert "undo d5f6b1370600" in dry.stdout and "undo 359940d6ad08" in dry.stdout
    assert "nothing was changed" in dry.stdout
    assert scalar(sqlite_url, "SELECT version_num FROM alembic_version") == "d5f6b1370600"
    assert scalar(sqlite_url, "SELECT count(*) FROM sqlite_master") == before


def test_a_downgrade_that_fails_in_rehearsal_never_reaches_the_database(shop, sqlite_url):
    upgrade(shop, sqlite_url)
    _break_downgrade(shop, "d5f6b1370600", '"""Downgrade schema."""\n',
                     '"""Downgrade schema."""\n    op.execute("SELECT * FROM no_such_table")\n')
    failed = run_safemigrate("downgrade", "-1", "--env", "development", "--database-url", sqlite_url, cwd=shop)
    assert failed.returncode == 3, failed.stdout + failed.stderr
    assert "no_such_table" in failed.stdout + failed.stderr
    assert scalar(sqlite_url, "SELECT version_num FROM alembic_version") == "d5f6b1370600"


def test_downgrade_waits_for_the_migrator_lock(shop, sqlite_url):
    from sqlalchemy.engine import make_url

    from safemigrate.core.errors import LockTimeout
    from safemigrate.runner.downgrade import downgrade
    from safemigrate.state.locking import migrator_lock

    upgrade(shop, sqlite_url)
    project = Project.from_pyproject(shop, database_url=sqlite_url, environment="development")
    with migrator_lock(make_url(sqlite_url)), pytest.raises(LockTimeout):
        downgrade(project, "-1", lock_wait=0.5)
    assert scalar(sqlite_url, "SELECT version_num FROM alembic_version") == "d5f6b1370600"


def test_development_downgrade_needs_no_flag(shop, sqlite_url):
    upgrade(shop, sqlite_url)
    done = run_safemigrate("downgrade", "-1", "--env", "dev", "--database-url", sqlite_url, cwd=shop)
    assert done.returncode == 0, done.stderr
    assert scalar(sqlite_url, "SELECT version_num FROM alembic_version") == "359940d6ad08"


def test_verify_downgrade_markdown_is_markdown(shop):
    result = run_safemigrate("verify-downgrade", "916a526e23a8:head", "--format", "markdown", cwd=shop)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("## safemigrate verify-downgrade: :white_check_mark:")
    assert "| :white_check_mark: | `d5f6b1370600` |" in result.stdout
