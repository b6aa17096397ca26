"""check --live and status: the live database vs. the models and its own revision."""

from __future__ import annotations

import json

import pytest
from helpers import execute, scalar, upgrade

from safemigrate import Project

HEAD = "d5f6b1370600"


@pytest.mark.postgres
def test_in_sync_database_passes(shop, pg_url, pg_server):
    upgrade(shop, pg_url)
    report = Project.from_pyproject(shop, database_url=pg_url, scratch_url=pg_server).check_live()
    assert report.ok, (report.problems, report.versus_models, report.out_of_band)
    assert report.database_heads == [HEAD] and report.pending == []


@pytest.mark.postgres
def test_hand_added_column_and_index_are_out_of_band_on_postgres(shop, pg_url, pg_server):
    upgrade(shop, pg_url)
    execute(pg_url, "ALTER TABLE customers ADD COLUMN notes text",
            "CREATE INDEX ix_orders_manual ON orders (status)")
    report = Project.from_pyproject(shop, database_url=pg_url, scratch_url=pg_server).check_live()
    assert not report.ok
    found = sorted((d.kind, d.table, d.object) for d in report.out_of_band)
    assert found == [("remove_column", "customers", "notes"), ("remove_index", "orders", "ix_orders_manual")]
    assert all(f"revision {HEAD}" in d.description for d in report.out_of_band)
    assert "ALTER TABLE customers DROP COLUMN notes" in [s for d in report.out_of_band for s in d.sql]
    assert report.problems == []


@pytest.mark.mysql
def test_hand_added_column_is_out_of_band_on_mariadb(shop, mysql_url, mysql_server):
    upgrade(shop, mysql_url)
    execute(mysql_url, "ALTER TABLE products ADD COLUMN legacy_code VARCHAR(20)")
    report = Project.from_pyproject(shop, database_url=mysql_url, scratch_url=mysql_server).check_live()
    assert [(d.kind, d.table, d.object) for d in report.out_of_band] == [("remove_column", "products", "legacy_code")]
    assert [(d.kind, d.object) for d in report.versus_models] == [("remove_column", "legacy_code")]


def test_hand_added_column_is_out_of_band_on_sqlite(shop, sqlite_url):
    upgrade(shop, sqlite_url)
    execute(sqlite_url, "ALTER TABLE payments ADD COLUMN memo TEXT")
    report = Project.from_pyproject(shop, database_url=sqlite_url).check_live()
    assert [(d.kind, d.table, d.object) for d in report.out_of_band] == [("remove_column", "payments", "memo")]


@pytest.mark.postgres
def test_database_behind_lists_pending_revisions(shop, pg_url, pg_server):
    upgrade(shop, pg_url, "916a526e23a8")
    report = Project.from_pyproject(shop, database_url=pg_url, scratch_url=pg_server).check_live()
    assert report.database_heads == ["916a526e23a8"]
    assert report.pending == ["36c914febd34", "359940d6ad08", HEAD]
    assert [p.code for p in report.problems] == ["database_behind"]
    assert report.out_of_band == []  # the schema is exactly what 916a526e23a8 creates


@pytest.mark.postgres
def test_unknown_revision_means_ahead_or_missing_file(shop, pg_url, pg_server, cli):
    upgrade(shop, pg_url)
    execute(pg_url, "UPDATE alembic_version SET version_num = 'ffff00000000'")
    report = Project.from_pyproject(shop, database_url=pg_url, scratch_url=pg_server).check_live()
    assert [p.code for p in report.problems] == ["unknown_revision"]
    assert "ffff00000000" in report.problems[0].message
    result = cli("check", "--live", "--project", str(shop), "--database-url", pg_url, "--format", "json")
    assert result.exit_code == 1
    assert json.loads(result.stdout)["problems"][0]["code"] == "unknown_revision"


@pytest.mark.postgres
def test_live_check_changes_nothing(shop, pg_url, pg_server):
    # an empty database has no alembic_version: a read must not create one
    Project.from_pyproject(shop, database_url=pg_url, scratch_url=pg_server).check_live()
    assert scalar(pg_url, "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'") == 0


@pytest.mark.postgres
def test_cross_dialect_scratch_skips_out_of_band_with_a_note(shop, pg_url):
    upgrade(shop, pg_url)
    report = Project.from_pyproject(shop, database_url=pg_url).check_live()
    assert report.ok
    assert any("--scratch-url" in note for note in report.notes)


def test_status_verdicts(shop, sqlite_url):
    status = Project.from_pyproject(shop, database_url=sqlite_url, environment="dev").status()
    assert status.environment == "development (APP_ENV=dev)"
    assert status.database_heads == [] and len(status.pending) == 11
    assert status.drift.startswith("behind: 11 pending")
    upgrade(shop, sqlite_url)
    status = Project.from_pyproject(shop, database_url=sqlite_url).status()
    assert status.ok and status.drift.startswith("in sync")
    assert status.environment_assumed  # APP_ENV unset: production
    execute(sqlite_url, "ALTER TABLE payments ADD COLUMN memo TEXT")
    status = Project.from_pyproject(shop, database_url=sqlite_url).status()
    assert not status.ok and status.differences == 1 and status.drift.startswith("drift: 1 difference")


def test_status_without_a_database(shop, cli):
    pyproject = shop / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace('database_url = "sqlite:///shop.db"\n', ""))
    result = cli("status", "--project", str(shop), "--format", "json")
    data = json.loads(result.stdout)
    assert data["database"] is None and data["drift"].startswith("unknown: no database configured")
    assert data["code_heads"] == [HEAD]
