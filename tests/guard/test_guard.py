"""The run-time guard on a real PostgreSQL database, and lint with sign-offs."""

from __future__ import annotations

import pytest
from helpers import alembic_upgrade, make_project, scalar

from safemigrate import Project

pytestmark = pytest.mark.postgres


def _state(url: str) -> tuple[int, str]:
    return scalar(url, "SELECT count(*) FROM users"), scalar(url, "SELECT version_num FROM alembic_version")


@pytest.mark.parametrize("body, rule", [
    ('op.execute("DELETE FROM users")', "delete-without-where"),
    ('op.get_bind().execute(sa.text("TRUNCATE users"))', "truncate"),
    ('op.execute("UPDATE users SET name = \'x\' WHERE id = 1; DROP TABLE users")', "drop-table"),
    ('op.execute("/* tidy */ delete from \\"users\\" where 1 = 1")', "delete-without-where"),
    ('op.drop_column("users", "name")', "drop-column"),
])
def test_destructive_statement_never_reaches_the_database(tmp_path, pg_url, body, rule):
    project = make_project(tmp_path / "p", body)
    result = alembic_upgrade(project, pg_url)
    assert result.returncode != 0
    assert "Destructive change blocked" in result.stderr or "DestructiveChangeBlocked" in result.stderr
    assert "with allow(" in result.stderr and rule in result.stderr
    # revision 0001 is applied; 0002 left nothing behind: every row and column is intact
    assert _state(pg_url) == (3, "0001")
    assert scalar(pg_url, "SELECT name FROM users WHERE id = 1") == "ada"


def test_signed_off_change_runs(tmp_path, pg_url):
    body = 'with allow("delete-without-where", "users", reason="reset demo data, see #12"):\n' \
           '    op.execute("DELETE FROM users")'
    project = make_project(tmp_path / "p", body)
    result = alembic_upgrade(project, pg_url)
    assert result.returncode == 0, result.stderr
    assert _state(pg_url) == (0, "0002")


def test_module_level_sign_off(tmp_path, pg_url):
    header = 'safemigrate_allow = [allow("truncate", "users", reason="table is rebuilt by the importer")]\n'
    project = make_project(tmp_path / "p", 'op.execute("TRUNCATE TABLE users")', header=header)
    assert alembic_upgrade(project, pg_url).returncode == 0
    assert _state(pg_url) == (0, "0002")


def test_sign_off_covers_only_its_object(tmp_path, pg_url):
    body = 'with allow("delete-without-where", "orders", reason="wrong table"):\n' \
           '    op.execute("DELETE FROM users")'
    project = make_project(tmp_path / "p", body)
    assert alembic_upgrade(project, pg_url).returncode != 0
    assert _state(pg_url) == (3, "0001")


def test_lint_reports_findings_sign_offs_and_unused_sign_offs(tmp_path, pg_server):
    header = 'safemigrate_allow = [allow("drop-table", "ghosts", reason="never existed")]\n'
    body = ('with allow("truncate", "users", reason="importer rebuilds it"):\n'
            '    op.execute("TRUNCATE users")\n'
            'op.execute("DELETE FROM users")')
    project = make_project(tmp_path / "p", body, header=header)
    report = Project.from_pyproject(project, scratch_url=pg_server, dialect="postgresql").lint()
    assert report.mode == "captured" and report.pg_version >= 12
    by_rule = {f.rule: f for f in report.findings if f.revision == "0002"}
    assert by_rule["truncate"].signed_off == "importer rebuilds it"
    assert by_rule["delete-without-where"].signed_off is None
    assert by_rule["delete-without-where"].path == "migrations/versions/0002_change.py"
    assert by_rule["delete-without-where"].line == 19
    assert "ghosts" in by_rule["unused-sign-off"].message
    assert not report.ok and [f.rule for f in report.blocking] == ["delete-without-where"]


def _autogenerate(project, url, *extra):
    import os
    import subprocess
    import sys
    from pathlib import Path

    alembic = Path(sys.executable).with_name("alembic")
    return subprocess.run([str(alembic), *extra, "revision", "--autogenerate", "-m", "sync"], cwd=project,
                          env={**os.environ, "DATABASE_URL": url}, capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("allow_flag", [False, True])
def test_autogenerate_withholds_destructive_operations(tmp_path, pg_url, allow_flag):
    project = make_project(tmp_path / "p", "pass")
    assert alembic_upgrade(project, pg_url).returncode == 0
    models = project / "guardapp" / "models.py"
    # the model loses users.name and gains users.email
    models.write_text(models.read_text().replace('sa.Column("name", sa.String(50), nullable=False))',
                                                 'sa.Column("email", sa.String(120)))'))
    result = _autogenerate(project, pg_url, *(["-x", "allow-destructive=yes"] if allow_flag else []))
    assert result.returncode == 0, result.stderr
    new = [p for p in (project / "migrations" / "versions").glob("*.py") if not p.name.startswith("000")]
    source = new[0].read_text()
    upgrade_body = source.split("def upgrade")[1].split("def downgrade")[0]
    assert "op.add_column('users', sa.Column('email'" in upgrade_body
    if allow_flag:
        assert "op.drop_column('users', 'name')" in upgrade_body
    else:
        downgrade_body = source.split("def downgrade")[1]
        assert "op.drop_column('users', 'name')" not in source
        assert "sa.Column('name'" not in downgrade_body  # the withheld drop's reverse is gone too
        assert "op.drop_column('users', 'email')" in downgrade_body
        assert "kept these destructive operations out" in result.stderr
        assert "with allow('drop-column', 'users.name'" in result.stderr


BATCH_DROP = """with op.batch_alter_table("users") as batch_op:
    batch_op.drop_column("name")"""


def test_sqlite_batch_drop_column_is_caught_as_an_operation(tmp_path, sqlite_url):
    # on SQLite, batch mode rebuilds the table: the SQL holds no DROP COLUMN, the operation does
    project = make_project(tmp_path / "p", BATCH_DROP)
    result = alembic_upgrade(project, sqlite_url)
    assert result.returncode != 0 and "drop-column" in result.stderr
    assert scalar(sqlite_url, "SELECT count(*) FROM pragma_table_info('users') WHERE name = 'name'") == 1
    assert scalar(sqlite_url, "SELECT version_num FROM alembic_version") == "0001"
    report = Project.from_pyproject(project, database_url=sqlite_url).lint()
    found = [f for f in report.findings if f.rule == "drop-column" and f.revision == "0002"]
    assert found and found[0].target == "users.name" and found[0].line == 17  # batch_op.drop_column
    review = Project.from_pyproject(project, database_url=sqlite_url).review("0002")
    assert not any("DROP COLUMN" in s.sql for s in review.revisions[0].statements if not s.operation)


def test_sqlite_batch_drop_column_signed_off_runs(tmp_path, sqlite_url):
    body = 'with allow("drop-column", "users.name", reason="moved to profiles"):\n' + \
           "\n".join("    " + line for line in BATCH_DROP.splitlines())
    project = make_project(tmp_path / "p", body)
    result = alembic_upgrade(project, sqlite_url)
    assert result.returncode == 0, result.stderr
    assert scalar(sqlite_url, "SELECT count(*) FROM pragma_table_info('users') WHERE name = 'name'") == 0
