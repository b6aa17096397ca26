"""Bad input: one clear message, a documented exit code, no traceback, nothing changed, no password shown."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from conftest import run_safemigrate
from helpers import scalar, upgrade

SECRET = "Sup3r-Secret-pw"


def _fingerprint(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file() and "__pycache__" not in p.parts}


def _assert_clean_failure(result, code: int, *fragments: str) -> str:
    output = result.stdout + result.stderr
    assert result.returncode == code, output
    assert "Traceback" not in output
    assert SECRET not in output
    for fragment in fragments:
        assert fragment in output, output
    return output


def test_missing_table(tmp_path):
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    _assert_clean_failure(run_safemigrate("check", cwd=tmp_path), 2, "has no [tool.safemigrate] table",
                          "safemigrate init")


def test_malformed_table(shop):
    (shop / "pyproject.toml").write_text(
        "[tool.safemigrate]\nmetadata = 'shop.models:Base.metadata'\nscript_locaton = 'x'\n")
    before = _fingerprint(shop)
    _assert_clean_failure(run_safemigrate("check", cwd=shop), 2, "Unknown key(s)", "script_locaton")
    assert _fingerprint(shop) == before


def test_metadata_that_does_not_import(shop):
    text = (shop / "pyproject.toml").read_text().replace("shop.models:Base.metadata", "shop.modles:Base.metadata")
    (shop / "pyproject.toml").write_text(text)
    _assert_clean_failure(run_safemigrate("check", cwd=shop), 2, "Importing 'shop.modles'", "ModuleNotFoundError")


def test_metadata_that_is_not_a_metadata(shop):
    text = (shop / "pyproject.toml").read_text().replace("shop.models:Base.metadata", "shop.models:OrderStatus")
    (shop / "pyproject.toml").write_text(text)
    _assert_clean_failure(run_safemigrate("check", cwd=shop), 2, "not a SQLAlchemy MetaData")


def test_unreachable_database_masks_password(shop):
    url = f"postgresql+psycopg://app:{SECRET}@127.0.0.1:1/shop"
    out = _assert_clean_failure(run_safemigrate("status", "--database-url", url, cwd=shop), 3,
                                "Could not connect", "app:***@127.0.0.1:1")
    assert "Check that the server is running" in out


@pytest.mark.mysql
def test_refused_password_is_masked(shop, mysql_url):
    from sqlalchemy.engine import make_url

    url = make_url(mysql_url).set(password=SECRET).render_as_string(hide_password=False)
    out = _assert_clean_failure(run_safemigrate("check", "--live", "--database-url", url, cwd=shop), 3,
                                "Access denied")
    assert "refused the credentials" in out


@pytest.mark.mysql
def test_password_never_in_json_or_markdown_reports(shop, mysql_url):
    # a URL with a password the server ignores for this check: the message must still mask it
    url = f"mysql+pymysql://root:{SECRET}@127.0.0.1:1/none"
    for fmt in ("json", "markdown", "text"):
        _assert_clean_failure(run_safemigrate("status", "--format", fmt, "--database-url", url, cwd=shop), 3)


def test_json_errors_are_json(shop):
    result = run_safemigrate("review", "nope:nada", "--format", "json", cwd=shop)
    assert result.returncode == 2
    data = json.loads(result.stdout)
    assert data["error"] == "RevisionGraphError" and data["exit_code"] == 2 and data["fix"]


def test_syntax_error_in_migration(project_factory):
    project = project_factory("broken_syntax")
    _assert_clean_failure(run_safemigrate("check", cwd=project), 3, "0002_broken.py", "line 23")


def test_multiple_heads_exit_1(project_factory):
    project = project_factory("multiple_heads")
    out = _assert_clean_failure(run_safemigrate("check", cwd=project), 1, "multiple heads", "alembic merge")
    assert "1e5f8a3c6d92" in out


@pytest.mark.postgres
def test_unknown_database_revision_changes_nothing(shop, pg_url):
    from helpers import execute

    upgrade(shop, pg_url)
    execute(pg_url, "UPDATE alembic_version SET version_num = 'ffff00000000'")
    _assert_clean_failure(run_safemigrate("status", "--database-url", pg_url, cwd=shop), 1,
                          "ffff00000000", "does not have")
    assert scalar(pg_url, "SELECT version_num FROM alembic_version") == "ffff00000000"


def test_empty_versions_folder(project_factory):
    _assert_clean_failure(run_safemigrate("check", cwd=project_factory("empty_versions")), 2,
                          "There are no revisions")


def test_range_that_does_not_exist(shop):
    _assert_clean_failure(run_safemigrate("review", "aaaa:bbbb", cwd=shop), 2, "does not exist")


def test_hardcoded_env_py_exit_2_and_untouched(project_factory):
    project = project_factory("hardcoded_url")
    _assert_clean_failure(run_safemigrate("check", cwd=project), 2, "instead of the database safemigrate named")
    target = project / "hardcoded_do_not_touch.db"
    assert not target.exists()


def test_bad_url(shop):
    _assert_clean_failure(run_safemigrate("status", "--database-url", "not a url", cwd=shop), 2,
                          "is not a database URL")


def test_unknown_dialect(shop):
    _assert_clean_failure(run_safemigrate("check", "--dialect", "db2", cwd=shop), 2, "Unknown dialect 'db2'")
