"""Hostile revisions against production `migrate` on MariaDB.

MariaDB commits each DDL statement on its own, so the claim is weaker than on PostgreSQL:

* ``seen`` cases send their SQL through SQLAlchemy (``op.execute``, ``op.get_bind()``...), including
  MariaDB-only syntax and executable comments: safemigrate must refuse them before they reach the server,
  so the database must be intact and revision 0002 not recorded.
* ``unseen`` cases go around the driver (a client in another process): safemigrate cannot prevent them,
  but it must report the revision as failed and never record it as applied. A driver's own ``connect``
  called in the revision is refused before it connects, and every pymysql cursor call on the migration
  connection is judged before it is sent, so those cases are ``seen``.

Every hostile revision is a time bomb, so the preflight passes and the run-time guard alone acts:
statements are judged before they are sent (rules, plus what only the live schema or an unreadable
statement tells: guard/enforce/mysql_statements.py), and the schema and row counts are compared after the
body (guard/enforce/mysql_effects.py). A failing case reads ``BROKE (<what safemigrate said>): <what is
damaged>``. ``ORDINARY`` revisions check the other side: everyday Alembic operations and signed-off
changes still apply.
"""

# ruff: noqa: E501 - hostile SQL is kept on one line, as a revision would write it
from __future__ import annotations

from dataclasses import dataclass

import pytest
from helpers import upgrade
from sqlalchemy import create_engine, pool, text
from sqlalchemy.engine import make_url

from attacks.chain_project import Rev, make_chain
from safemigrate import Project
from safemigrate.core.errors import SafemigrateError

pytestmark = pytest.mark.mysql

RAW = "cur = op.get_bind().connection.cursor()\n"
DB = "db = op.get_bind().engine.url.database\n"


@dataclass(frozen=True)
class Case:
    body: str
    seen: bool = True  # sent through SQLAlchemy: must be refused, data intact
    view: bool = False


SEEN = {
    # ------------------------------------------------------------ from the brief
    "executable comment /*!50000 DROP TABLE users */": '''op.execute("/*!50000 DROP TABLE users */")''',
    "prepare from a literal, execute": '''
op.execute("PREPARE s FROM 'DELETE FROM users'")
op.execute("EXECUTE s")
''',
    "DELETE QUICK FROM users": 'op.execute("DELETE QUICK FROM users")',
    "DROP TABLE users WAIT 5": 'op.execute("DROP TABLE users WAIT 5")',
    # ------------------------------------------------------------ executable comments
    "executable comment /*M!100100 DROP TABLE users */": '''op.execute("/*M!100100 DROP TABLE users */")''',
    "executable comment after a quote inside a block comment": '''op.execute("/* ' */ /*!50000 DROP TABLE users */ /* ' */")''',
    "executable comment after a quote inside a # comment": '''op.execute("# '\\n/*!50000 DROP TABLE users */ # '")''',
    "executable comment after a quote inside a -- comment": '''op.execute("-- '\\n/*!50000 DROP TABLE users */ -- '")''',
    "executable comment turns WHERE 0 into WHERE 0 OR 1": '''op.execute("DELETE FROM users WHERE 0 /*!50000 OR 1 */")''',
    # ------------------------------------------------------------ dynamic SQL
    "SET @q then PREPARE FROM @q": '''
op.execute("SET @q = CONCAT('DROP ', 'TABLE users')")
op.execute("PREPARE s FROM @q")
op.execute("EXECUTE s")
''',
    "EXECUTE IMMEDIATE": '''op.execute("EXECUTE IMMEDIATE CONCAT('DROP ', 'TABLE users')")''',
    "stored procedure with dynamic SQL, then CALL": '''
op.execute("CREATE PROCEDURE wipe(t VARCHAR(64)) BEGIN SET @q = CONCAT('DELETE FROM ', t); PREPARE s FROM @q; "
           "EXECUTE s; END")
op.execute("CALL wipe('users')")
''',
    "trigger on alembic_version update": '''
op.execute("CREATE TRIGGER wipe AFTER UPDATE ON alembic_version FOR EACH ROW DELETE FROM users")
''',
    # ------------------------------------------------------------ MariaDB-only spellings
    "DELETE LOW_PRIORITY IGNORE FROM users": 'op.execute("DELETE LOW_PRIORITY IGNORE FROM users")',
    "DELETE ... RETURNING": 'op.execute("DELETE FROM users RETURNING id")',
    "DROP TABLE users NOWAIT": 'op.execute("DROP TABLE users NOWAIT")',
    "DROP TABLES users": 'op.execute("DROP TABLES users")',
    "TRUNCATE users (no TABLE keyword)": 'op.execute("TRUNCATE users")',
    "RENAME TABLE users TO people": 'op.execute("RENAME TABLE users TO people")',
    "RENAME TABLES users TO people": 'op.execute("RENAME TABLES users TO people")',
    "ALTER TABLE users DROP name (no COLUMN keyword)": 'op.execute("ALTER TABLE users DROP name")',
    "CREATE OR REPLACE TABLE users": 'op.execute("CREATE OR REPLACE TABLE users (id int)")',
    "DROP SCHEMA of the database": DB + 'op.execute(f"DROP SCHEMA `{db}`")',
    "ALTER TABLE users DISCARD TABLESPACE": 'op.execute("ALTER TABLE users DISCARD TABLESPACE")',
    "drop the unique index": 'op.execute("ALTER TABLE users DROP INDEX users_name_key")',
    # ------------------------------------------------------------ narrowing
    "ALTER IGNORE TABLE MODIFY name VARCHAR(2) (truncates)": 'op.execute("ALTER IGNORE TABLE users MODIFY name VARCHAR(2) NOT NULL")',
    "sql_mode '' then MODIFY name VARCHAR(2) (truncates)": '''
op.execute("SET SESSION sql_mode = ''")
op.execute("ALTER TABLE users MODIFY name VARCHAR(2) NOT NULL")
''',
    "MODIFY name VARCHAR(6) (narrowed, fits)": 'op.execute("ALTER TABLE users MODIFY name VARCHAR(6) NOT NULL")',
    "CHANGE name name VARCHAR(6) (narrowed, fits)": 'op.execute("ALTER TABLE users CHANGE name name VARCHAR(6) NOT NULL")',
    "MODIFY note VARCHAR(2) (narrowed, fits)": 'op.execute("ALTER TABLE users MODIFY note VARCHAR(2)")',
    "sql_mode '' then MODIFY note INT (values lost)": '''
op.execute("SET SESSION sql_mode = ''")
op.execute("ALTER TABLE users MODIFY note INT")
''',
    "MODIFY id TINYINT": 'op.execute("ALTER TABLE users MODIFY id TINYINT NOT NULL AUTO_INCREMENT")',
    # ------------------------------------------------------------ always-true WHERE, rewritten rows
    "delete where id IS NOT NULL": 'op.execute("DELETE FROM users WHERE id IS NOT NULL")',
    "delete where coalesce(1, 0)": 'op.execute("DELETE FROM users WHERE coalesce(1, 0)")',
    "delete where TRUE IS TRUE": 'op.execute("DELETE FROM users WHERE TRUE IS TRUE")',
    "delete where :always bound to True": '''
op.get_bind().execute(sa.text("DELETE FROM users WHERE :always"), {"always": True})
''',
    "exec_driver_sql delete where %s bound to 1": 'op.get_bind().exec_driver_sql("DELETE FROM users WHERE %s", (1,))',
    "delete where id in a derived table": '''
op.execute("DELETE FROM users WHERE id IN (SELECT id FROM (SELECT id FROM users) AS x)")
''',
    "REPLACE INTO rewrites every row": '''op.execute("REPLACE INTO users (id, name) SELECT id, CONCAT('x', id) FROM users")''',
    "upsert rewrites every row": '''
op.execute("INSERT INTO users (id, name) SELECT id, CONCAT('x', id) FROM users ON DUPLICATE KEY UPDATE name = VALUES(name)")
''',
    # ------------------------------------------------------------ name tricks
    "create if not exists (no-op) then drop": '''
op.execute("CREATE TABLE IF NOT EXISTS users (id int)")
op.execute("DROP TABLE users")
''',
    "temporary table users then drop twice": '''
op.execute("CREATE TEMPORARY TABLE users (id int)")
op.execute("DROP TABLE users")
op.execute("DROP TABLE users")
''',
    "db-qualified backquoted drop": DB + 'op.execute(f"DROP TABLE `{db}`.`users`")',
    # ------------------------------------------------------------ after the body
    "SQLAlchemy listener on the version bump": '''
from sqlalchemy import event
def wipe(conn, cursor, statement, parameters, context, executemany):
    if statement.lstrip().upper().startswith("UPDATE ALEMBIC_VERSION"):
        conn.exec_driver_sql("DELETE FROM users")
event.listen(op.get_bind(), "after_cursor_execute", wipe)
''',
    "on_version_apply callback": '''
def wipe(ctx, step, heads, run_args):
    ctx.connection.exec_driver_sql("DELETE FROM users")
op.get_context().on_version_apply_callbacks = (wipe,)
''',
    "pymysql.connect directly (refused at the driver: harness/drivers.py)": '''
import pymysql
url = op.get_bind().engine.url
other = pymysql.connect(host=url.host, port=url.port or 3306, user=url.username, password=url.password or "",
                        database=url.database, autocommit=True)
other.cursor().execute("DELETE FROM users")
other.close()
''',
}

# a raw pymysql cursor on the migration connection: every call is judged before it is sent
# (harness/drivers.watching_raw_cursors), so these are seen too
SEEN |= {
    "raw pymysql cursor TRUNCATE TABLE users": RAW + 'cur.execute("TRUNCATE TABLE users")',
    "raw pymysql cursor ALTER TABLE users DROP COLUMN name": RAW + 'cur.execute("ALTER TABLE users DROP COLUMN name")',
    "raw pymysql cursor DROP TABLE users": RAW + 'cur.execute("DROP TABLE users")',
    "raw pymysql cursor RENAME TABLE users TO people": RAW + 'cur.execute("RENAME TABLE users TO people")',
    "raw pymysql cursor DELETE FROM users": RAW + 'cur.execute("DELETE FROM users")',
    "raw pymysql cursor DELETE with a bound always-true parameter": RAW + 'cur.execute("DELETE FROM users WHERE %s", (1,))',
    "raw pymysql executemany DELETE": RAW + 'cur.executemany("DELETE FROM users WHERE id > %s", [(0,)])',
    "raw pymysql executable comment DROP": RAW + 'cur.execute("/*!50000 DROP TABLE users */")',
    "raw pymysql callproc of a procedure that deletes": RAW + '''
cur.execute("CREATE PROCEDURE wipe() DELETE FROM users")
cur.callproc("wipe")
''',
    "raw pymysql call from a value encoder, inside an executemany": RAW + '''
class Evil:
    pass
calls = []
def encode(value, mapping=None):  # quiet while safemigrate renders the statement to judge it, then acts
    calls.append(1)
    if len(calls) > 1:
        cur.connection.cursor().execute("DROP TABLE users")
    return "1"
cur.connection.encoders[Evil] = encode
cur.executemany("SELECT %s", [(Evil(),)])
''',
    "raw pymysql call from a value encoder, same cursor": RAW + '''
class Evil:
    pass
calls = []
def encode(value, mapping=None):  # quiet while safemigrate renders the statement to judge it, then acts
    calls.append(1)
    if len(calls) > 1:
        cur.execute("DELETE FROM users")
    return "1"
cur.connection.encoders[Evil] = encode
cur.execute("SELECT %s", (Evil(),))
''',
    "raw pymysql SSCursor DROP": 'import pymysql\ncur = op.get_bind().connection.driver_connection.cursor(pymysql.cursors.SSCursor)\ncur.execute("DROP TABLE users")',
}

UNSEEN = {
    "mariadb client in a subprocess": DB + '''
import subprocess
subprocess.run(["mariadb", "-h127.0.0.1", "-uroot", db, "-e", "DELETE FROM users"], check=True, capture_output=True)
''',
}

CASES = {**{k: Case(v) for k, v in SEEN.items()}, **{k: Case(v, seen=False) for k, v in UNSEEN.items()}}


def _problems(url: str) -> list[str]:
    found: list[str] = []
    name = make_url(url).database
    engine = create_engine(url, poolclass=pool.NullPool)
    try:
        try:
            conn_cm = engine.connect()
            conn_cm.close()
        except Exception as exc:
            return [f"the database itself is gone: {str(exc).splitlines()[0]}"]
        with engine.connect() as conn:
            def one_value(sql: str, **params):
                return conn.execute(text(sql), params).scalar()

            try:
                version = one_value("SELECT GROUP_CONCAT(version_num) FROM alembic_version")
            except Exception as exc:
                return [f"alembic_version unreadable: {str(exc).splitlines()[0]}"]
            if version != "0001":
                found.append(f"recorded revision {version}")
            if not one_value("SELECT count(*) FROM information_schema.tables WHERE table_schema = :s "
                             "AND table_name = 'users'", s=name):
                found.append("table users is gone")
                return found
            try:
                rows = [tuple(r) for r in conn.execute(text("SELECT * FROM users ORDER BY 1")).all()]
            except Exception as exc:
                found.append(f"users unreadable: {str(exc).splitlines()[0]}")
                return found
            if rows != [(1, "ada", "n1"), (2, "grace", "n2"), (3, "edsger", "n3")]:
                found.append(f"users rows are now {rows[:5]}")
            columns = dict(conn.execute(text(
                "SELECT column_name, CONCAT(column_type, ' ', is_nullable) FROM information_schema.columns "
                "WHERE table_schema = :s AND table_name = 'users'"), {"s": name}).all())
            if columns != {"id": "int(11) NO", "name": "varchar(50) NO", "note": "varchar(50) YES"}:
                found.append(f"columns are now {columns}")
            indexes = set(conn.execute(text(
                "SELECT DISTINCT index_name FROM information_schema.statistics WHERE table_schema = :s "
                "AND table_name = 'users'"), {"s": name}).scalars())
            if indexes != {"PRIMARY", "users_name_key"}:
                found.append(f"indexes are now {sorted(indexes)}")
            triggers = list(conn.execute(text(
                "SELECT trigger_name FROM information_schema.triggers WHERE trigger_schema = :s"), {"s": name}).scalars())
            conn.rollback()
            try:
                conn.execute(text("INSERT INTO users (name) VALUES ('newcomer')"))
                count = one_value("SELECT count(*) FROM users")
                new_id = one_value("SELECT max(id) FROM users")
                if (count, new_id) != (4, 4):
                    found.append(f"after an application INSERT: {count} row(s), max id {new_id}")
            except Exception as exc:
                found.append(f"the application cannot insert a row any more: {str(exc).splitlines()[0]}")
            finally:
                conn.rollback()
            if triggers:
                found.append(f"triggers left behind: {triggers}")
    finally:
        engine.dispose()
    return found


@pytest.mark.parametrize("name", sorted(CASES))
def test_production_migrate_on_mariadb(tmp_path, mysql_url, mysql_server, name):
    case = CASES[name]
    project = make_chain(tmp_path / "p", [Rev(case.body)], view=case.view, backups=tmp_path / "backups")
    upgrade(project, mysql_url, "0001")
    refused = False
    try:
        report = Project.from_pyproject(project, database_url=mysql_url, scratch_url=mysql_server,
                                        environment="production").migrate()
    except SafemigrateError as exc:
        refused = True
        said = f"refused: {type(exc).__name__}: {exc.what[:300]}"
    else:
        failed = [f"{c.name}: {c.message}" for c in report.checks if not c.ok]
        assert failed == [], f"REFUSED IN PREFLIGHT (does not test the guard): {failed}"
        said = f"migrate returned, applied {[a.revision for a in report.applied]}"
    print(f"OUTCOME: {said}")
    problems = _problems(mysql_url)
    if case.seen:
        assert not problems, f"BROKE ({said}): " + "; ".join(problems)
    else:  # cannot be prevented: must be reported as failed and not recorded
        recorded = [p for p in problems if p.startswith(("recorded revision", "alembic_version"))]
        assert refused and not recorded, (f"BROKE (weak claim; {said}): recorded={recorded}; "
                                          f"damage: {'; '.join(problems) or 'none'}")


def test_the_same_setup_applies_a_harmless_revision(tmp_path, mysql_url, mysql_server):
    project = make_chain(tmp_path / "p", [Rev('op.execute("UPDATE users SET name = name WHERE id = 1")')],
                         backups=tmp_path / "backups")
    upgrade(project, mysql_url, "0001")
    report = Project.from_pyproject(project, database_url=mysql_url, scratch_url=mysql_server,
                                    environment="production").migrate()
    assert report.ok and [a.revision for a in report.applied] == ["0002"], report
    assert _problems(mysql_url) == ["recorded revision 0002"]


ORDINARY = {
    "widen a column": 'op.alter_column("users", "note", existing_type=sa.String(50), type_=sa.String(100))',
    "restate a column's type (MODIFY ... NULL)": 'op.alter_column("users", "note", existing_type=sa.String(50), nullable=True)',
    "FULLTEXT index": 'op.create_index("ix_users_note", "users", ["note"], mysql_prefix="FULLTEXT")',
    "REPLACE INTO ... VALUES": '''op.execute("REPLACE INTO users (id, name, note) VALUES (3, 'edsger', 'n3')")''',
    "delete some rows": 'op.execute("DELETE FROM users WHERE id = 3")',
    "trigger on a table of this revision": '''
op.create_table("audit", sa.Column("id", sa.Integer, primary_key=True), sa.Column("at", sa.Integer))
op.execute("CREATE TRIGGER audit_bi BEFORE INSERT ON audit FOR EACH ROW SET NEW.at = 1")
''',
    "signed-off drop of the unique index": '''
from safemigrate import allow
with allow("drop-constraint", "users.users_name_key", reason="replaced"):
    op.drop_constraint("users_name_key", "users", type_="unique")
''',
    "signed-off delete of every row": '''
from safemigrate import allow
with allow("delete-without-where", "users", reason="rebuilt on start"):
    op.execute("DELETE FROM users")
''',
}


@pytest.mark.parametrize("name", sorted(ORDINARY))
def test_ordinary_revisions_are_applied(tmp_path, mysql_url, mysql_server, name):
    """What the MySQL guard refuses must not catch ordinary Alembic operations or signed-off changes.

    They run in production only (like the attacks), so the models may differ afterwards: only the
    guard's verdict is asserted.
    """
    project = make_chain(tmp_path / "p", [Rev(ORDINARY[name])], backups=tmp_path / "backups")
    upgrade(project, mysql_url, "0001")
    report = Project.from_pyproject(project, database_url=mysql_url, scratch_url=mysql_server,
                                    environment="production").migrate()
    assert [a.revision for a in report.applied] == ["0002"], report
    assert _problems(mysql_url)[:1] == ["recorded revision 0002"]
