"""``safemigrate ledger list`` and ``ledger show REV``: text and JSON, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import run_safemigrate
from helpers import execute, scalar
from sqlalchemy.engine import make_url

REVISIONS = ["98a5510249e6", "50f9c33cdc22", "474785f50e38", "e1bc5fb903a2", "fdb845e4d313", "47dfb1365042",
             "4f241768b312", "916a526e23a8", "36c914febd34", "359940d6ad08", "d5f6b1370600"]


def _migrated(shop: Path, url: str) -> dict[str, str]:
    env = {"DATABASE_URL": url, "APP_ENV": "development"}
    result = run_safemigrate("migrate", cwd=shop, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    return env


def _json(*args: str, cwd: Path, env: dict[str, str]) -> dict:
    result = run_safemigrate(*args, "--format", "json", cwd=cwd, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    return json.loads(result.stdout)


def test_an_empty_ledger(shop: Path, tmp_path: Path) -> None:
    env = {"DATABASE_URL": f"sqlite:///{tmp_path / 'live.db'}"}
    result = run_safemigrate("ledger", "list", cwd=shop, env=env)
    assert result.returncode == 0, result.stderr
    assert "the ledger is empty" in result.stdout
    assert _json("ledger", "list", cwd=shop, env=env)["entries"] == []


@pytest.mark.slow
def test_list_shows_every_applied_revision_in_order(shop: Path, tmp_path: Path) -> None:
    env = _migrated(shop, f"sqlite:///{tmp_path / 'live.db'}")
    result = run_safemigrate("ledger", "list", cwd=shop, env=env)
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stdout.splitlines() if " applied " in line]
    assert [next(r for r in REVISIONS if r in line) for line in lines] == REVISIONS
    assert "development" in lines[0]
    data = _json("ledger", "list", cwd=shop, env=env)
    assert data["kind"] == "ledger-list" and data["schema_version"] == 1
    assert [e["revision"] for e in data["entries"]] == REVISIONS
    first = data["entries"][0]
    assert first["action"] == "applied" and len(first["checksum"]) == 64 and first["applied_at"].endswith("+00:00")
    assert set(first) >= {"id", "applied_by", "environment", "tool_version", "duration_ms", "backup_id", "note",
                          "attempt", "ci_run"}
    newest = _json("ledger", "list", "--limit", "3", cwd=shop, env=env)
    assert [e["revision"] for e in newest["entries"]] == REVISIONS[-3:] and newest["limited"] is True
    bad = run_safemigrate("ledger", "list", "--limit", "0", cwd=shop, env=env)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr


@pytest.mark.slow
def test_show_one_revision_its_rows_and_its_file(shop: Path, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'live.db'}"
    env = _migrated(shop, url)
    result = run_safemigrate("ledger", "show", "e1bc", cwd=shop, env=env)  # a unique prefix
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "safemigrate ledger show e1bc5fb903a2 add product sku" in out
    assert "file: migrations/versions/e1bc5fb903a2_add_product_sku.py" in out
    assert "state: applied" in out and "(unchanged)" in out
    data = _json("ledger", "show", "e1bc5fb903a2", cwd=shop, env=env)
    assert data["kind"] == "ledger-show" and data["applied"] is True
    assert data["recorded_checksum"] == data["file_checksum"]
    assert [e["action"] for e in data["entries"]] == ["applied"]
    # the file edited after it was applied: shown, as the production preflight would refuse it
    path = shop / "migrations" / "versions" / "e1bc5fb903a2_add_product_sku.py"
    path.write_text(path.read_text() + "\n# edited after it was applied\n")
    changed = run_safemigrate("ledger", "show", "e1bc5fb903a2", cwd=shop, env=env)
    assert "the file changed after it was applied" in changed.stdout
    data = _json("ledger", "show", "e1bc5fb903a2", cwd=shop, env=env)
    assert data["recorded_checksum"] != data["file_checksum"]


@pytest.mark.slow
def test_show_after_a_downgrade_and_for_a_deleted_file(shop: Path, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'live.db'}"
    env = _migrated(shop, url)
    down = run_safemigrate("downgrade", "-1", cwd=shop, env=env)
    assert down.returncode == 0, down.stdout + down.stderr
    data = _json("ledger", "show", "d5f6b1370600", cwd=shop, env=env)
    assert [e["action"] for e in data["entries"]] == ["applied", "downgraded"]
    assert data["applied"] is False
    assert "state: not applied (downgraded)" in run_safemigrate("ledger", "show", "d5f6b1370600", cwd=shop,
                                                                env=env).stdout
    # the code no longer has the revision; the ledger still does
    next(shop.glob("migrations/versions/d5f6b1370600_*.py")).unlink()
    gone = run_safemigrate("ledger", "show", "d5f6b1370600", cwd=shop, env=env)
    assert gone.returncode == 0, gone.stderr
    assert "file: (not in the code any more)" in gone.stdout


@pytest.mark.slow
def test_unknown_revision_is_one_clear_message(shop: Path, tmp_path: Path) -> None:
    env = _migrated(shop, f"sqlite:///{tmp_path / 'live.db'}")
    result = run_safemigrate("ledger", "show", "zz", cwd=shop, env=env)
    assert result.returncode == 2
    assert "There is no revision 'zz' in this project nor in the ledger of" in result.stderr
    assert "Traceback" not in result.stderr
    as_json = run_safemigrate("ledger", "show", "zz", "--format", "json", cwd=shop, env=env)
    assert as_json.returncode == 2 and json.loads(as_json.stdout)["error"] == "UsageError"


@pytest.mark.slow
def test_a_tampered_ledger_is_listed_with_the_problem(shop: Path, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'live.db'}"
    env = _migrated(shop, url)
    execute(url, "UPDATE safemigrate_history SET applied_by = 'someone else' WHERE revision = '474785f50e38'")
    result = run_safemigrate("ledger", "list", cwd=shop, env=env)
    assert result.returncode == 1
    assert "ledger tampered with: Ledger row 3 (revision 474785f50e38, applied) does not follow" in result.stdout
    assert "someone else" in result.stdout
    assert scalar(url, "SELECT count(*) FROM safemigrate_history") == len(REVISIONS)  # read only


@pytest.mark.postgres
def test_on_postgresql_without_the_password(shop: Path, pg_url: str) -> None:
    url = make_url(pg_url).set(password="s3cret-pw").render_as_string(hide_password=False)  # trust: ignored
    env = _migrated(shop, url)
    for args in (["ledger", "list"], ["ledger", "show", "d5f6"], ["ledger", "list", "--format", "json"]):
        result = run_safemigrate(*args, cwd=shop, env=env)
        assert result.returncode == 0, result.stderr
        assert "s3cret-pw" not in result.stdout + result.stderr
        assert "d5f6b1370600" in result.stdout
