"""What the PostgreSQL run-time guard must still let through: the legitimate shapes its checks resemble.

The commit gate, the check at commit, the row probes and the effect-only rules of
``tests/attacks/test_pg_more.py`` stop hostile revisions; these revisions look like them and are fine:
an UPDATE with a WHERE clause that happens to touch every row, a VACUUM and a data step in an
``autocommit_block`` between two data steps (the models have no index to build), a trigger that is
signed off, and several revisions applied one after another (each commit judged on its own).
"""

from __future__ import annotations

import pytest
from helpers import execute, scalar, upgrade

from attacks.chain_project import Rev, make_chain
from safemigrate import Project

pytestmark = pytest.mark.postgres

TRIGGER = '''op.execute("""CREATE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN NEW.note := coalesce(NEW.note, 'new'); RETURN NEW; END $$""")
with allow("create-trigger", "users.touch", reason="fills note for the application, reviewed in #12"):
    op.execute("CREATE TRIGGER touch BEFORE INSERT ON users FOR EACH ROW EXECUTE FUNCTION touch()")
'''

ALLOWED = {
    "update with a WHERE clause that touches every row": [
        Rev('''op.execute("UPDATE users SET note = note || '!' WHERE id > 0")''', bomb=False)],
    "data step, VACUUM in an autocommit_block, data step": [Rev('''
op.execute("UPDATE users SET note = 'first' WHERE id = 1")
with op.get_context().autocommit_block():
    op.execute("VACUUM (ANALYZE) users")
    op.execute("UPDATE users SET note = 'batch' WHERE id = 3")
op.execute("UPDATE users SET note = 'second' WHERE id = 2")
''', bomb=False)],
    "raw cursor statements in an autocommit_block (a read, an UPDATE with a key, composed SQL)": [Rev('''
from psycopg import sql
with op.get_context().autocommit_block():
    cur = op.get_bind().connection.cursor()
    cur.execute("SELECT count(*) FROM users")
    cur.execute("UPDATE users SET note = %s WHERE id = %s", ("raw", 3))
    op.get_bind().connection.driver_connection.execute(
        sql.SQL("UPDATE {} SET note = 'composed' WHERE id = 2").format(sql.Identifier("users")))
''', bomb=False)],
    "a signed-off trigger": [Rev(TRIGGER, bomb=False)],
    # dropping NOT NULL destroys nothing: Alembic's alter_column(nullable=True) passes lint and applies
    "alter_column nullable=True": [Rev('op.alter_column("users", "name", nullable=True, '
                                       'existing_type=sa.String(50))', bomb=False)],
    "three revisions in a row": [Rev('op.execute("UPDATE users SET note = \'a\' WHERE id = 1")', bomb=False),
                                 Rev('op.execute("UPDATE users SET note = \'b\' WHERE id = 2")', bomb=False),
                                 Rev('op.execute("UPDATE users SET note = \'c\' WHERE id = 3")', bomb=False)],
}


@pytest.mark.parametrize("name", sorted(ALLOWED))
def test_production_migrate_applies_legitimate_shapes(tmp_path, pg_url, pg_server, name):
    revisions = ALLOWED[name]
    project = make_chain(tmp_path / "p", revisions, backups=tmp_path / "backups")
    if name == "alter_column nullable=True":  # the models say so too
        models = project / "guardapp" / "models.py"
        models.write_text(models.read_text().replace('sa.Column("name", sa.String(50), nullable=False)',
                                                     'sa.Column("name", sa.String(50), nullable=True)'))
    upgrade(project, pg_url, "0001")
    execute(pg_url, "SELECT setval('users_id_seq', 3)")
    report = Project.from_pyproject(project, database_url=pg_url, scratch_url=pg_server,
                                    environment="production").migrate()
    expected = [f"{n:04d}" for n in range(2, len(revisions) + 2)]
    assert [a.revision for a in report.applied] == expected, [(c.name, c.message) for c in report.checks if not c.ok]
    assert scalar(pg_url, "SELECT version_num FROM alembic_version") == expected[-1]
    assert scalar(pg_url, "SELECT count(*) FROM users") == 3
    if name.startswith("raw cursor"):  # the raw statements ran, each committed after its check
        assert scalar(pg_url, "SELECT string_agg(note, ',' ORDER BY id) FROM users WHERE id > 1") == "composed,raw"
