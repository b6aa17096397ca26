"""Hostile revisions against production `migrate` on PostgreSQL: the data must be intact afterwards.

Each case is revision 0002 of a tiny project whose revision 0001 created ``users`` with three rows.
Production migrate runs the preflight, takes a backup and applies 0002 under the run-time guard. Every
case is a time bomb: it behaves only when it does not run on one of safemigrate's throwaway databases, so
the preflight (which builds the history on one, and lints what it sent) sees a harmless revision, and the
run-time guard alone stands between it and the data. Whatever path the SQL takes, the database is checked
afterwards: every table, row and column of 0001 is still there, and 0002 is not recorded as applied.
"""

from __future__ import annotations

import pytest
from helpers import execute, make_project, scalar, table_names, upgrade

from safemigrate import Project
from safemigrate.core.errors import SafemigrateError

pytestmark = pytest.mark.postgres

EVASIONS = {
    "raw DBAPI cursor": '''
cursor = op.get_bind().connection.cursor()
cursor.execute("TRUNCATE users CASCADE")
''',
    "driver connection": '''
op.get_bind().connection.driver_connection.execute("DELETE FROM users")
''',
    "bound parameter always true": '''
op.get_bind().execute(sa.text("DELETE FROM users WHERE :always"), {"always": True})
''',
    "execute format in a function": '''
op.execute("""CREATE FUNCTION wipe(t text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN EXECUTE format('DELETE FROM %I', t); END $$""")
op.execute("SELECT wipe('users')")
''',
    "drop after a no-op create": '''
op.execute("CREATE TABLE IF NOT EXISTS users (id int)")
op.execute("DROP TABLE users")
''',
    "merge then delete": '''
op.execute("MERGE INTO users u USING (SELECT 1) s ON true WHEN MATCHED THEN DELETE")
''',
    "where id is not null": 'op.execute("DELETE FROM users WHERE id IS NOT NULL")',
    "where cast one equals one": 'op.execute("DELETE FROM users WHERE \'1\'::int = 1")',
    "where true is true": 'op.execute("DELETE FROM users WHERE true IS TRUE")',
    "where coalesce true": 'op.execute("DELETE FROM users WHERE coalesce(true, false)")',
    "sequence restart": '''
op.execute("ALTER SEQUENCE users_id_seq RESTART WITH 1")
''',
    "thread with its own statement": '''
import threading
bind = op.get_bind()
worker = threading.Thread(target=lambda: bind.exec_driver_sql("DELETE FROM users"))
worker.start()
worker.join()
''',
    "new engine on the same url": '''
engine = sa.create_engine(op.get_bind().engine.url)
with engine.begin() as other:
    other.execute(sa.text("DELETE FROM users"))
''',
    "upgrade hidden from the stack walk": '''
globals().pop("upgrade")
op.execute("DELETE FROM users")
''',
    "guard error swallowed": '''
try:
    op.execute("DELETE FROM users")
except Exception:
    pass
''',
    "drop column through a raw cursor": '''
op.get_bind().connection.cursor().execute("ALTER TABLE users DROP COLUMN name")
''',
    "rename through a raw cursor": '''
op.get_bind().connection.cursor().execute("ALTER TABLE users RENAME TO people")
''',
}


def _intact(url: str) -> None:
    assert "users" in table_names(url)
    assert scalar(url, "SELECT count(*) FROM users") == 3
    assert scalar(url, "SELECT name FROM users WHERE id = 1") == "ada"
    assert scalar(url, "SELECT version_num FROM alembic_version") == "0001"
    assert scalar(url, "SELECT last_value FROM users_id_seq") == 3


def time_bomb(body: str) -> str:
    """``body``, run only outside safemigrate's throwaway databases."""
    indented = "\n".join("    " + line if line else "" for line in body.strip("\n").splitlines())
    return f'if "safemigrate_tmp_" not in str(op.get_bind().engine.url):\n{indented}\n'


@pytest.mark.parametrize("name", sorted(EVASIONS))
def test_production_migrate_keeps_the_data(tmp_path, pg_url, pg_server, name):
    project = make_project(tmp_path / "p", time_bomb(EVASIONS[name]))
    with (project / "pyproject.toml").open("a") as pyproject:
        pyproject.write(f'\n[tool.safemigrate.backup]\nurl = "{tmp_path / "backups"}"\n')
    upgrade(project, pg_url, "0001")
    execute(pg_url, "SELECT setval('users_id_seq', 3)")  # the application inserted its rows through the sequence
    try:
        report = Project.from_pyproject(project, database_url=pg_url, scratch_url=pg_server,
                                        environment="production").migrate()
        assert [c.name for c in report.checks if not c.ok] == []  # the preflight saw nothing: the guard acts
        assert not report.applied or report.applied[-1].revision != "0002", report
    except SafemigrateError:
        pass  # refused: what matters is the database
    _intact(pg_url)


def test_the_same_setup_applies_a_harmless_revision(tmp_path, pg_url, pg_server):
    # control: the cases above fail for what they do, not because production migrate cannot run here
    project = make_project(tmp_path / "p", time_bomb('op.execute("UPDATE users SET name = name WHERE id = 1")'))
    with (project / "pyproject.toml").open("a") as pyproject:
        pyproject.write(f'\n[tool.safemigrate.backup]\nurl = "{tmp_path / "backups"}"\n')
    upgrade(project, pg_url, "0001")
    report = Project.from_pyproject(project, database_url=pg_url, scratch_url=pg_server,
                                    environment="production").migrate()
    assert report.ok and [a.revision for a in report.applied] == ["0002"], report
    assert scalar(pg_url, "SELECT count(*) FROM users") == 3
