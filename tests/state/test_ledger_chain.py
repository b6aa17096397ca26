"""The ledger cannot be reset silently (issue #10 §3): rows deleted, edited, forged or the table dropped.

Each attack changes the ledger with plain SQL, as someone with the database password would, and the
production preflight must refuse, naming the ledger; ``ledger reseal`` records a deliberate change.
"""

from __future__ import annotations

import pytest
from conftest import configure_backup, run_safemigrate
from helpers import execute, make_project, scalar, upgrade
from sqlalchemy import create_engine, pool

from safemigrate import Project
from safemigrate.state import ledger

TAMPERING = {
    "first row deleted": ["DELETE FROM safemigrate_history WHERE id = (SELECT min(id) FROM "
                          "(SELECT id FROM safemigrate_history) s)"],
    "last row deleted": ["DELETE FROM safemigrate_history WHERE id = (SELECT max(id) FROM "
                         "(SELECT id FROM safemigrate_history) s)"],
    "every row deleted": ["DELETE FROM safemigrate_history"],
    "checksum edited": ["UPDATE safemigrate_history SET checksum = 'f00d' WHERE revision = '0001'"],
    "who edited": ["UPDATE safemigrate_history SET applied_by = 'someone@else'"],
    "row forged": ["INSERT INTO safemigrate_history (revision, checksum, applied_at, applied_by, environment, "
                   "tool_version, action) VALUES ('0003', 'x', '2026-01-01 00:00:00', 'me', 'production', '1', "
                   "'applied')"],
    "ledger dropped": ["DROP TABLE safemigrate_history"],
    "head emptied": ["DELETE FROM safemigrate_ledger_head"],
    "head dropped": ["DROP TABLE safemigrate_ledger_head"],
}


def _verify(url: str) -> list[str]:
    engine = create_engine(url, poolclass=pool.NullPool)
    try:
        with engine.connect() as conn:
            return ledger.verify(conn)
    finally:
        engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql", "mysql"])
def database(request, tmp_path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'app.db'}"
    return request.getfixturevalue("pg_url" if request.param == "postgresql" else "mysql_url")


def _applied(tmp_path, url: str):
    project = make_project(tmp_path / "app", "pass")
    upgrade(project, url, "0001")
    assert Project.from_pyproject(project, database_url=url, environment="development").migrate().ok
    assert _verify(url) == []  # 0001 backfilled, 0002 applied: a sound chain
    return project


@pytest.mark.parametrize("attack", list(TAMPERING))
def test_tampering_is_seen(tmp_path, database, attack):
    _applied(tmp_path, database)
    execute(database, *TAMPERING[attack])
    problems = _verify(database)
    assert problems, f"{attack} went unseen"


@pytest.mark.slow
def test_production_refuses_a_tampered_ledger_and_reseal_records_it(tmp_path):
    url = f"sqlite:///{tmp_path / 'app.db'}"
    project = _applied(tmp_path, url)
    configure_backup(project, url=str(tmp_path / "backups"))
    execute(url, "DELETE FROM safemigrate_history WHERE revision = '0002'")
    version = scalar(url, "SELECT version_num FROM alembic_version")

    refused = run_safemigrate("migrate", "--env", "production", "--database-url", url, cwd=project)
    output = refused.stdout + refused.stderr
    assert refused.returncode == 1, output
    assert "ledger intact" in output and "ledger reseal" in output
    assert scalar(url, "SELECT version_num FROM alembic_version") == version
    assert scalar(url, "SELECT count(*) FROM safemigrate_history") == 1  # not backfilled over the evidence

    empty = run_safemigrate("ledger", "reseal", "--reason", " ", "--database-url", url, cwd=project)
    assert empty.returncode == 2 and "--reason is empty" in empty.stdout + empty.stderr
    resealed = run_safemigrate("ledger", "reseal", "--reason", "restored after an incident",
                               "--database-url", url, cwd=project)
    assert resealed.returncode == 0, resealed.stdout + resealed.stderr
    assert _verify(url) == []
    note = scalar(url, "SELECT note FROM safemigrate_history WHERE action = 'resealed'")
    assert note.startswith("restored after an incident") and "rows" in note  # what was wrong is kept
    accepted = run_safemigrate("migrate", "--env", "production", "--database-url", url, cwd=project)
    assert accepted.returncode == 0, accepted.stdout + accepted.stderr


def test_a_ledger_written_before_the_chain_still_verifies(tmp_path):
    """A ledger of an earlier safemigrate (no chain columns) gains them and is not called tampered."""
    url = f"sqlite:///{tmp_path / 'app.db'}"
    execute(url, "CREATE TABLE safemigrate_history (id INTEGER PRIMARY KEY, revision VARCHAR(128) NOT NULL, "
                 "checksum VARCHAR(64) NOT NULL, applied_at DATETIME NOT NULL, duration_ms INTEGER, "
                 "applied_by VARCHAR(255) NOT NULL, ci_run VARCHAR(255), environment VARCHAR(32) NOT NULL, "
                 "tool_version VARCHAR(32) NOT NULL, backup_id VARCHAR(255), action VARCHAR(16) NOT NULL, "
                 "note TEXT)",
            "INSERT INTO safemigrate_history (revision, checksum, applied_at, applied_by, environment, "
            "tool_version, action) VALUES ('0001', 'abc', '2026-01-01 00:00:00', 'me', 'production', '0.1', "
            "'applied')")
    engine = create_engine(url, poolclass=pool.NullPool)
    try:
        with engine.begin() as conn:
            ledger.ensure(conn)
            ledger.record(conn, "0002", "def", environment="production")
        with engine.connect() as conn:
            assert ledger.verify(conn) == []
    finally:
        engine.dispose()


def test_ledger_commands_honour_format_json(tmp_path):
    import json

    url = f"sqlite:///{tmp_path / 'app.db'}"
    project = _applied(tmp_path, url)
    accepted = run_safemigrate("ledger", "accept", "0002", "--reason", "comment only", "--database-url", url,
                               "--format", "json", cwd=project)
    assert accepted.returncode == 0, accepted.stderr
    data = json.loads(accepted.stdout)
    assert data["kind"] == "ledger" and data["action"] == "accepted" and len(data["checksum"]) == 64
    resealed = run_safemigrate("ledger", "reseal", "--reason", "checked", "--database-url", url, "--format", "json",
                               cwd=project)
    assert json.loads(resealed.stdout)["problems"] == []
