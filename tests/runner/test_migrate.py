"""safemigrate migrate on real databases: fail fast in production, auto-sync in development."""

from __future__ import annotations

import json
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from conftest import configure_backup, run_safemigrate
from helpers import add_model_line, execute, scalar, upgrade

from safemigrate import Project
from safemigrate.state import ledger

HEAD = "d5f6b1370600"


def _fingerprint(url: str) -> tuple:
    from sqlalchemy import create_engine, inspect, pool

    engine = create_engine(url, poolclass=pool.NullPool)
    try:
        insp = inspect(engine)
        tables = sorted(insp.get_table_names())
        return tuple((t, tuple(c["name"] for c in insp.get_columns(t))) for t in tables)
    finally:
        engine.dispose()


@pytest.mark.postgres
def trust_history(project: Path, up_to: str = HEAD) -> None:
    """start_after: the shop's revisions were written before the team adopted safemigrate's lint policy."""
    pyproject = project / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace("[tool.safemigrate]\n",
                                                       f'[tool.safemigrate]\nstart_after = "{up_to}"\n', 1))


def test_production_applies_pending_revisions_and_records_the_ledger(shop, pg_url, pg_server, tmp_path):
    upgrade(shop, pg_url, "916a526e23a8")
    configure_backup(shop, url=str(tmp_path / "backups"))
    trust_history(shop)
    report = Project.from_pyproject(shop, database_url=pg_url, scratch_url=pg_server,
                                    environment="production").migrate()
    assert report.ok, [(c.name, c.message) for c in report.checks if not c.ok]
    assert [a.revision for a in report.applied] == ["36c914febd34", "359940d6ad08", HEAD]
    assert report.verified
    assert scalar(pg_url, "SELECT version_num FROM alembic_version") == HEAD
    # 8 revisions applied by Alembic before adoption are backfilled; 3 applied now
    assert scalar(pg_url, "SELECT count(*) FROM safemigrate_history WHERE action = 'backfilled'") == 8
    rows = scalar(pg_url, "SELECT string_agg(revision || ':' || environment, ',' ORDER BY id) "
                          "FROM safemigrate_history WHERE action = 'applied'")
    assert rows == "36c914febd34:production,359940d6ad08:production,d5f6b1370600:production"
    recorded = scalar(pg_url, f"SELECT checksum FROM safemigrate_history WHERE revision = '{HEAD}'")
    assert recorded == ledger.checksum(next((shop / "migrations" / "versions").glob(f"{HEAD}_*.py")))
    # a verified backup was taken before the first revision, and each revision's row names it
    assert report.backup and any(p.name.endswith(".json") for p in (tmp_path / "backups").rglob("*"))
    assert scalar(pg_url, "SELECT count(DISTINCT backup_id) FROM safemigrate_history WHERE action = 'applied'") == 1
    assert scalar(pg_url, "SELECT min(backup_id) FROM safemigrate_history WHERE action = 'applied'") == report.backup


@pytest.mark.postgres
def test_production_refuses_what_lint_blocks_even_when_it_only_takes_locks(shop, pg_url, pg_server, tmp_path):
    # 36c914febd34 builds an index without CONCURRENTLY: lint fails on it, so production refuses it too
    upgrade(shop, pg_url, "916a526e23a8")
    configure_backup(shop, url=str(tmp_path / "backups"))
    report = Project.from_pyproject(shop, database_url=pg_url, scratch_url=pg_server,
                                    environment="production").migrate()
    failed = [c for c in report.checks if not c.ok]
    assert [c.name for c in failed] == ["pending revisions pass the guard"]
    assert "Unapproved lock-taking change(s)" in failed[0].message and "36c914febd34" in failed[0].message
    assert scalar(pg_url, "SELECT version_num FROM alembic_version") == "916a526e23a8"  # nothing changed


@pytest.mark.postgres
def test_production_without_a_backup_destination_changes_nothing(shop, pg_url, pg_server):
    upgrade(shop, pg_url, "916a526e23a8")
    trust_history(shop)
    report = Project.from_pyproject(shop, database_url=pg_url, scratch_url=pg_server,
                                    environment="production").migrate()
    failed = [c for c in report.checks if not c.ok]
    assert [c.name for c in failed] == ["verified backup"]
    assert "no backup destination is configured" in failed[0].message
    assert report.applied == [] and scalar(pg_url, "SELECT version_num FROM alembic_version") == "916a526e23a8"


@pytest.mark.postgres
def test_a_failed_backup_means_no_migration(shop, pg_url, pg_server, tmp_path):
    upgrade(shop, pg_url, "916a526e23a8")
    trust_history(shop)
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the backup folder should be")
    configure_backup(shop, url=str(blocked / "backups"))
    from safemigrate.core.errors import BackupError

    with pytest.raises(BackupError):
        Project.from_pyproject(shop, database_url=pg_url, scratch_url=pg_server, environment="production").migrate()
    assert scalar(pg_url, "SELECT version_num FROM alembic_version") == "916a526e23a8"
    assert scalar(pg_url, "SELECT count(*) FROM safemigrate_history WHERE action = 'applied'") == 0


def test_unknown_environment_is_production(shop, sqlite_url):
    report = Project.from_pyproject(shop, database_url=sqlite_url, environment="qa-3").migrate(dry_run=True)
    assert report.mode == "fail-fast" and report.environment_assumed
    assert "treated as production" in report.environment


@pytest.mark.postgres
@pytest.mark.parametrize("breakage", ["hand_added_column", "edited_applied_file", "unknown_revision", "two_heads"])
def test_preflight_failure_changes_nothing(shop, pg_url, pg_server, breakage):
    upgrade(shop, pg_url, "916a526e23a8")
    Project.from_pyproject(shop, database_url=pg_url, scratch_url=pg_server, environment="production")
    # adopt: a first dry run backfills nothing; record the ledger by migrating to 916a526e23a8 state
    expected_name = {
        "hand_added_column": "no out-of-band changes",
        "edited_applied_file": "applied files unchanged",
        "unknown_revision": "revisions known",
        "two_heads": "single head",
    }[breakage]
    versions = shop / "migrations" / "versions"
    if breakage == "hand_added_column":
        execute(pg_url, "ALTER TABLE customers ADD COLUMN notes text")
    elif breakage == "edited_applied_file":
        from sqlalchemy import create_engine, pool

        engine = create_engine(pg_url, poolclass=pool.NullPool)
        with engine.begin() as conn:
            ledger.ensure(conn)
            path = next(versions.glob("e1bc5fb903a2_*.py"))
            ledger.record(conn, "e1bc5fb903a2", ledger.checksum(path), environment="production")
        engine.dispose()
        path.write_text(path.read_text() + "\n# edited after it was applied\n")
    elif breakage == "unknown_revision":
        execute(pg_url, "UPDATE alembic_version SET version_num = 'ffff00000000'")
    elif breakage == "two_heads":
        source = next(versions.glob(f"{HEAD}_*.py")).read_text()
        (versions / "aaaa00000001_other_branch.py").write_text(
            source.replace(f'revision = "{HEAD}"', 'revision = "aaaa00000001"')
                  .replace(f"revision: str = \"{HEAD}\"", 'revision: str = "aaaa00000001"'))
    before = _fingerprint(pg_url)
    version_before = scalar(pg_url, "SELECT version_num FROM alembic_version")
    result = run_safemigrate("migrate", "--env", "production", "--database-url", pg_url,
                             "--scratch-url", pg_server, "--format", "json", cwd=shop)
    assert result.returncode == 1, result.stdout + result.stderr
    data = json.loads(result.stdout)
    failed = {c["name"] for c in data["checks"] if not c["ok"]}
    assert expected_name in failed, data["checks"]
    assert data["applied"] == []
    assert _fingerprint(pg_url) == before
    assert scalar(pg_url, "SELECT version_num FROM alembic_version") == version_before


def test_preflight_reports_an_unreachable_database(shop):
    result = run_safemigrate("migrate", "--env", "production", "--database-url",
                             "postgresql+psycopg://app:pw-secret-1@127.0.0.1:1/shop", "--format", "json", cwd=shop)
    assert result.returncode == 1
    data = json.loads(result.stdout)
    reachable = next(c for c in data["checks"] if c["name"] == "database reachable")
    assert not reachable["ok"] and "Could not connect" in reachable["message"]
    assert "pw-secret-1" not in result.stdout + result.stderr
    # the checks that need no database still ran and are reported too
    assert any(c["name"] == "models match head" and c["ok"] for c in data["checks"])


@pytest.mark.postgres
def test_failing_revision_leaves_nothing_and_keeps_earlier_ones(shop, pg_url, pg_server):
    upgrade(shop, pg_url, "916a526e23a8")
    execute(pg_url, "INSERT INTO customers (id, email, full_name) VALUES (1, 'a@b.c', 'Ada')")
    path = next((shop / "migrations" / "versions").glob("359940d6ad08_*.py"))
    source = path.read_text()
    marker = "def upgrade() -> None:\n"
    assert marker in source
    path.write_text(source.replace(marker, marker + "    op.add_column('customers', "
                                   "sa.Column('half', sa.Integer()))\n    op.execute('SELECT 1/0')\n", 1))
    project = Project.from_pyproject(shop, database_url=pg_url, scratch_url=pg_server, environment="development")
    from safemigrate.core.errors import MigrationFailed

    with pytest.raises(MigrationFailed) as info:
        project.migrate()
    assert info.value.revision == "359940d6ad08"
    assert "36c914febd34" in info.value.details  # applied by this run before the failure
    assert scalar(pg_url, "SELECT version_num FROM alembic_version") == "36c914febd34"
    columns = {c for t, cols in _fingerprint(pg_url) if t == "customers" for c in cols}
    assert "half" not in columns
    assert scalar(pg_url, "SELECT full_name FROM customers WHERE id = 1") == "Ada"
    applied = scalar(pg_url, "SELECT string_agg(revision, ',' ORDER BY id) FROM safemigrate_history "
                             "WHERE action = 'applied'")
    assert applied == "36c914febd34"


@pytest.mark.postgres
@pytest.mark.slow
def test_eight_concurrent_migrators_apply_each_revision_once(shop, pg_url):
    def one(_: int) -> subprocess.CompletedProcess[str]:
        return run_safemigrate("migrate", "--env", "development", "--database-url", pg_url, cwd=shop)

    with ThreadPoolExecutor(max_workers=8) as pool_:
        results = list(pool_.map(one, range(8)))
    assert [r.returncode for r in results] == [0] * 8, [r.stderr for r in results if r.returncode]
    assert scalar(pg_url, "SELECT version_num FROM alembic_version") == HEAD
    counts = scalar(pg_url, "SELECT max(c) FROM (SELECT count(*) AS c FROM safemigrate_history "
                            "WHERE action = 'applied' GROUP BY revision) s")
    assert counts == 1
    assert scalar(pg_url, "SELECT count(DISTINCT revision) FROM safemigrate_history WHERE action = 'applied'") == 11
    assert sum("Nothing to apply" in r.stdout for r in results) >= 1


@pytest.mark.slow
def test_development_autosync_generates_and_applies(shop, sqlite_url):
    upgrade(shop, sqlite_url)
    add_model_line(shop, "Customer", "nickname: Mapped[str | None] = mapped_column(sa.String(40))")
    models = shop / "shop" / "models.py"
    models.write_text(models.read_text().replace("    phone: Mapped[str | None] = mapped_column(sa.String(32))\n", ""))
    result = run_safemigrate("migrate", "--env", "dev", "--database-url", sqlite_url, "--format", "json", cwd=shop)
    data = json.loads(result.stdout)
    assert result.returncode == 1  # the withheld drop leaves the models and the database apart
    assert len(data["generated"]) == 1 and data["generated"][0].endswith("_add_customers_nickname.py")
    generated = (shop / data["generated"][0]).read_text()
    assert "add_column(sa.Column('nickname'" in generated and "drop_column('phone')" not in generated
    assert "with allow('drop-column', 'customers.phone'" in data["withheld"][0]
    assert scalar(sqlite_url, "SELECT count(*) FROM pragma_table_info('customers') WHERE name = 'nickname'") == 1
    assert scalar(sqlite_url, "SELECT count(*) FROM pragma_table_info('customers') WHERE name = 'phone'") == 1


def test_dry_run_changes_nothing_and_shows_the_sql(shop, sqlite_url, tmp_path):
    upgrade(shop, sqlite_url, "916a526e23a8")
    configure_backup(shop, url=str(tmp_path / "backups"))
    report = Project.from_pyproject(shop, database_url=sqlite_url, environment="production").migrate(dry_run=True)
    assert report.plan == ["36c914febd34", "359940d6ad08", HEAD]
    assert [r.revision.revision for r in report.ddl] == report.plan
    assert report.applied == []
    assert scalar(sqlite_url, "SELECT version_num FROM alembic_version") == "916a526e23a8"


@pytest.mark.slow
def test_ledger_accept_records_a_deliberate_change(shop, sqlite_url, tmp_path):
    upgrade(shop, sqlite_url)
    configure_backup(shop, url=str(tmp_path / "backups"))
    project = Project.from_pyproject(shop, database_url=sqlite_url, environment="production")
    assert project.migrate().ok  # backfills the ledger
    path = next((shop / "migrations" / "versions").glob("e1bc5fb903a2_*.py"))
    path.write_text(path.read_text() + "\n# a comment added later\n")
    failed = Project.from_pyproject(shop, database_url=sqlite_url, environment="production").migrate()
    assert not failed.ok and any(c.name == "applied files unchanged" and not c.ok for c in failed.checks)
    result = run_safemigrate("ledger", "accept", "e1bc5fb903a2", "--reason", "comment only",
                             "--database-url", sqlite_url, cwd=shop)
    assert result.returncode == 0, result.stderr
    assert Project.from_pyproject(shop, database_url=sqlite_url, environment="production").migrate().ok
    # line endings do not matter
    path.write_bytes(path.read_bytes().replace(b"\n", b"\r\n"))
    assert Project.from_pyproject(shop, database_url=sqlite_url, environment="production").migrate().ok


@pytest.mark.mysql
@pytest.mark.slow
def test_eight_concurrent_migrators_on_mariadb(shop, mysql_url):
    def one(_: int) -> subprocess.CompletedProcess[str]:
        return run_safemigrate("migrate", "--env", "development", "--database-url", mysql_url, cwd=shop)

    with ThreadPoolExecutor(max_workers=8) as pool_:
        results = list(pool_.map(one, range(8)))
    assert [r.returncode for r in results] == [0] * 8, [r.stdout + r.stderr for r in results if r.returncode]
    assert scalar(mysql_url, "SELECT version_num FROM alembic_version") == HEAD
    assert scalar(mysql_url, "SELECT max(c) FROM (SELECT count(*) AS c FROM safemigrate_history "
                             "WHERE action = 'applied' GROUP BY revision) s") == 1


@pytest.mark.mysql
def test_mariadb_failure_lists_the_statements_that_stayed_applied(shop, mysql_url):
    upgrade(shop, mysql_url, "916a526e23a8")
    path = next((shop / "migrations" / "versions").glob("359940d6ad08_*.py"))
    source = path.read_text()
    marker = "def upgrade() -> None:\n"
    path.write_text(source.replace(marker, marker + "    op.add_column('customers', sa.Column('half', sa.Integer()))\n"
                                   "    op.execute('SELECT * FROM no_such_table')\n", 1))
    project = Project.from_pyproject(shop, database_url=mysql_url, environment="development")
    from safemigrate.core.errors import MigrationFailed

    with pytest.raises(MigrationFailed) as info:
        project.migrate()
    assert info.value.revision == "359940d6ad08"
    details = info.value.details
    assert "MySQL/MariaDB committed these statements of revision 359940d6ad08" in details
    assert "ALTER TABLE customers ADD COLUMN half INTEGER;" in details
    # the DDL did auto-commit: the report is telling the truth
    columns = {c for t, cols in _fingerprint(mysql_url) if t == "customers" for c in cols}
    assert "half" in columns
    assert scalar(mysql_url, "SELECT version_num FROM alembic_version") == "36c914febd34"
