"""``migrate --to REV`` (stop before head) and ``downgrade --dry-run`` on PostgreSQL (nothing changes)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import configure_backup, run_safemigrate
from helpers import scalar, table_names, upgrade

FIRST, SKU, HEAD = "98a5510249e6", "e1bc5fb903a2", "d5f6b1370600"


def _versions(shop: Path) -> set[str]:
    return {p.name for p in (shop / "migrations" / "versions").glob("*.py")}


@pytest.mark.slow
def test_development_stops_at_the_revision_asked(shop: Path, sqlite_url: str) -> None:
    upgrade(shop, sqlite_url, FIRST)
    before = _versions(shop)
    env = {"DATABASE_URL": sqlite_url, "APP_ENV": "development"}
    result = run_safemigrate("migrate", "--to", "e1bc", cwd=shop, env=env)  # a unique prefix
    assert result.returncode == 0, result.stdout + result.stderr
    assert scalar(sqlite_url, "SELECT version_num FROM alembic_version") == SKU
    assert "up to e1bc5fb903a2" in result.stdout
    assert "Stopped at e1bc5fb903a2, as --to asked; 7 revision(s) after it are still pending." in result.stdout
    assert _versions(shop) == before  # no auto-sync revision for what head adds
    assert scalar(sqlite_url, "SELECT count(*) FROM safemigrate_history WHERE action = 'applied'") == 3
    # again: nothing to do, said so; then without --to, on to head
    again = run_safemigrate("migrate", "--to", SKU, "--format", "json", cwd=shop, env=env)
    data = json.loads(again.stdout)
    assert data["target"] == SKU and data["applied"] == [] and data["verified"] is None
    assert any("Nothing to apply: the database is at or past e1bc5fb903a2" in n for n in data["notes"])
    assert run_safemigrate("migrate", cwd=shop, env=env).returncode == 0
    assert scalar(sqlite_url, "SELECT version_num FROM alembic_version") == HEAD


@pytest.mark.slow
def test_production_checks_backs_up_then_stops_at_the_revision(shop: Path, sqlite_url: str, tmp_path: Path) -> None:
    upgrade(shop, sqlite_url, FIRST)
    configure_backup(shop, url=str(tmp_path / "backups"))
    env = {"DATABASE_URL": sqlite_url, "APP_ENV": "production"}
    result = run_safemigrate("migrate", "--to", SKU, "--format", "json", cwd=shop, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    data = json.loads(result.stdout)
    assert data["plan"] == ["50f9c33cdc22", "474785f50e38", SKU]
    assert [a["revision"] for a in data["applied"]] == data["plan"]
    assert data["backup"] and all(c["ok"] for c in data["checks"])
    assert scalar(sqlite_url, "SELECT version_num FROM alembic_version") == SKU


def test_to_head_is_a_plain_migrate(shop: Path, sqlite_url: str) -> None:
    upgrade(shop, sqlite_url, SKU)
    env = {"DATABASE_URL": sqlite_url, "APP_ENV": "development"}
    data = json.loads(run_safemigrate("migrate", "--to", HEAD, "--format", "json", cwd=shop, env=env).stdout)
    assert data["verified"] is True and data["target"] == HEAD


def test_an_unknown_revision_changes_nothing(shop: Path, sqlite_url: str) -> None:
    upgrade(shop, sqlite_url, FIRST)
    env = {"DATABASE_URL": sqlite_url, "APP_ENV": "development"}
    result = run_safemigrate("migrate", "--to", "nope", cwd=shop, env=env)
    assert result.returncode == 2
    assert "The revision range 'base:nope' does not exist in this project" in result.stderr
    assert "Traceback" not in result.stderr
    assert scalar(sqlite_url, "SELECT version_num FROM alembic_version") == FIRST


def test_dry_run_with_to_shows_only_those_revisions(shop: Path, sqlite_url: str) -> None:
    upgrade(shop, sqlite_url, FIRST)
    env = {"DATABASE_URL": sqlite_url, "APP_ENV": "development"}
    data = json.loads(run_safemigrate("migrate", "--to", SKU, "--dry-run", "--format", "json", cwd=shop,
                                      env=env).stdout)
    assert data["plan"] == ["50f9c33cdc22", "474785f50e38", SKU]
    assert [run["revision"]["revision"] for run in data["ddl"]] == data["plan"]
    assert scalar(sqlite_url, "SELECT version_num FROM alembic_version") == FIRST


def test_downgrade_dry_run_on_postgresql_changes_nothing(shop: Path, pg_url: str) -> None:
    upgrade(shop, pg_url)
    tables = table_names(pg_url)
    rows = scalar(pg_url, "SELECT count(*) FROM safemigrate_history") if "safemigrate_history" in tables else 0
    columns = scalar(pg_url, "SELECT count(*) FROM information_schema.columns WHERE table_schema = 'public'")
    result = run_safemigrate("downgrade", "-2", "--dry-run", "--env", "production", cwd=shop,
                             env={"DATABASE_URL": pg_url})
    assert result.returncode == 0, result.stdout + result.stderr
    assert "undo d5f6b1370600" in result.stdout and "undo 359940d6ad08" in result.stdout
    assert "DROP" in result.stdout.upper()  # the SQL the downgrade would send
    assert "dry run: would undo d5f6b1370600, 359940d6ad08; nothing was changed" in result.stdout
    assert scalar(pg_url, "SELECT version_num FROM alembic_version") == HEAD
    assert table_names(pg_url) == tables
    assert scalar(pg_url, "SELECT count(*) FROM information_schema.columns WHERE table_schema = 'public'") == columns
    after = scalar(pg_url, "SELECT count(*) FROM safemigrate_history") if "safemigrate_history" in tables else 0
    assert after == rows  # no ledger row: nothing was downgraded
