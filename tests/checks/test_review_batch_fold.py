"""``review`` on SQLite: batch mode's catalog reads and table copy folded, one line each; the new table shown."""

from __future__ import annotations

import json
from pathlib import Path

from attacks.chain_project import Rev, make_chain
from conftest import run_safemigrate

from safemigrate.checks.batch_fold import fold_batch_mode
from safemigrate.core.results import RevisionInfo, RevisionRun, Statement

BATCH = ("with op.batch_alter_table('users') as b:\n"
         "    b.alter_column('note', nullable=False, existing_type=sa.String(50))")


def _project(tmp_path: Path) -> Path:
    return make_chain(tmp_path / "batch", [Rev(BATCH, bomb=False)])


def test_review_folds_the_reflection_queries_and_the_copy_of_a_batch_revision(tmp_path):
    project = _project(tmp_path)
    result = run_safemigrate("review", "0001:head", cwd=project)
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "PRAGMA main." not in out and "FROM sqlite_master" not in out
    assert "-- batch mode read the definition of users: 10 catalog queries" in out
    assert "CREATE TABLE _alembic_tmp_users (" in out and "note VARCHAR(50) NOT NULL" in out  # what changes
    assert ("-- batch mode: rows of users copied into _alembic_tmp_users, users dropped, _alembic_tmp_users "
            "renamed to users") in out
    assert "DROP TABLE users" not in out and "INSERT INTO _alembic_tmp_users" not in out
    assert "folded;" not in out  # a comment gets no statement terminator


def test_the_json_and_markdown_reports_are_folded_the_same_way(tmp_path):
    project = _project(tmp_path)
    report = json.loads(run_safemigrate("review", "0001:head", "--format", "json", cwd=project).stdout)
    sql = [s["sql"] for s in report["revisions"][0]["statements"] if not s["bookkeeping"] and not s["operation"]]
    assert sql[0].startswith("-- batch mode read the definition of users")
    assert sql[1].startswith("CREATE TABLE _alembic_tmp_users")
    assert sql[2].startswith("-- batch mode: rows of users copied")
    assert len(sql) == 3
    markdown = run_safemigrate("review", "0001:head", "--format", "markdown", cwd=project).stdout
    assert "PRAGMA main." not in markdown and "-- batch mode: rows of users copied" in markdown


def test_lint_still_sees_every_statement_batch_mode_sent(tmp_path):
    project = make_chain(tmp_path / "batch", [Rev(
        "with op.batch_alter_table('users') as b:\n    b.drop_column('note')", bomb=False)])
    result = run_safemigrate("lint", cwd=project)
    assert result.returncode == 1 and "drop-column" in result.stdout, result.stdout + result.stderr


def _run(*sqls: str, parameters: dict[int, str] | None = None) -> RevisionRun:
    info = RevisionInfo("0002", ["0001"], "change", "migrations/versions/0002_change.py", [], False, True)
    return RevisionRun(info, [Statement(sql, (parameters or {}).get(i)) for i, sql in enumerate(sqls)], 1.0)


def test_settings_and_hand_written_statements_are_never_folded():
    run = _run('PRAGMA foreign_keys = OFF', 'PRAGMA main.table_info("users")', "DROP TABLE users",
               "SELECT name FROM sqlite_master WHERE type = 'table'")
    folded = fold_batch_mode(run)
    assert [s.sql for s in folded.statements] == [s.sql for s in run.statements]  # one read alone stays as sent


def test_a_copy_that_is_not_exactly_batch_modes_stays_as_sent():
    run = _run("CREATE TABLE _alembic_tmp_users (id INTEGER)",
               "INSERT INTO _alembic_tmp_users (id) SELECT id FROM users", "DROP TABLE accounts",
               "ALTER TABLE _alembic_tmp_users RENAME TO users")
    assert fold_batch_mode(run) is run
