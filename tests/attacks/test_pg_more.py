"""More hostile revisions against production `migrate` on PostgreSQL: the database must be intact afterwards.

Every hostile revision is a time bomb (see ``chain_project.time_bomb``): on safemigrate's throwaway
databases it does nothing, so the preflight passes and the run-time guard alone must stop it. Afterwards
the database itself is checked (rows, table, columns, constraints, sequence, owner, view, the revision
recorded, and whether the application can still insert a row), never safemigrate's message.

A failing case reads ``BROKE (<what safemigrate said>): <what is damaged>``; a case whose revision the
preflight refused reads ``REFUSED IN PREFLIGHT`` (it does not test the run-time guard).
"""

# ruff: noqa: E501 - hostile SQL is kept on one line, as a revision would write it
from __future__ import annotations

from dataclasses import dataclass

import pytest
from helpers import execute, upgrade
from sqlalchemy import create_engine, pool, text
from sqlalchemy.engine import make_url

from attacks.chain_project import Rev, make_chain, module_bomb
from safemigrate import Project
from safemigrate.core.errors import SafemigrateError

pytestmark = pytest.mark.postgres

RAW = "cur = op.get_bind().connection.cursor()\n"
DSN = 'dsn = op.get_bind().engine.url.set(drivername="postgresql").render_as_string(hide_password=False)\n'
ROLE = 'role = "r_" + op.get_bind().engine.url.database\n'
WIPE_FN = ('cur.execute("CREATE FUNCTION wipe() RETURNS trigger LANGUAGE plpgsql AS '
           '$$ BEGIN DELETE FROM users; RETURN NULL; END $$")\n')
RUN_SQL_FN = 'op.execute("CREATE FUNCTION run_sql(q text) RETURNS void LANGUAGE plpgsql AS $$ BEGIN EXECUTE q; END $$")'


OUTSIDE = ("known gap: a connection opened outside the driver (libpq through ctypes, another process) "
           "commits on its own; the guard sees the emptied table afterwards and refuses the revision with a restore "
           "instruction, but cannot undo what the other connection committed")
AUTOCOMMIT = ("known gap: in an autocommit_block a statement sent to libpq itself (psycopg's pgconn) commits as it "
              "runs; the guard judges SQLAlchemy's statements and every psycopg cursor call, not libpq's")


@dataclass(frozen=True)
class Case:
    revisions: tuple[Rev, ...]
    start: str = "0001"  # where plain `alembic upgrade` puts the database before the production run
    view: bool = False  # 0001 also creates the view user_names
    role: bool = False  # a role r_<database> exists during the test (dropped afterwards)
    owner_role: bool = False  # users is owned by that role before the run
    versions: tuple[str, ...] = ("0001",)  # acceptable revisions of the database afterwards
    xfail: str | None = None


def one(body: str, **kw: object) -> Case:
    return Case((Rev(body),), **kw)  # type: ignore[arg-type]


CASES: dict[str, Case] = {
    # ---------------------------------------------------------------- the list of known evasions
    "drop owned by current_user (bootstrap superuser)": one('op.execute("DROP OWNED BY current_user")'),
    "drop owned by current_user (table owner role)": one(ROLE + '''
op.execute(f'SET ROLE "{role}"')
op.execute("DROP OWNED BY current_user")
''', role=True, owner_role=True),
    "drop view of 0001": one('op.execute("DROP VIEW user_names")', view=True),
    "drop view of 0001 through a raw cursor": one(RAW + 'cur.execute("DROP VIEW user_names")', view=True),
    "helper function of an applied revision drops the table": Case(
        (Rev(RUN_SQL_FN, bomb=False), Rev('''op.execute("SELECT run_sql('DROP TABLE users')")''')),
        start="0002", versions=("0002",)),
    "helper function of a pending clean revision drops the table": Case(
        (Rev(RUN_SQL_FN, bomb=False), Rev('''op.execute("SELECT run_sql('DROP TABLE users')")''')),
        versions=("0001", "0002")),
    "create if not exists (no-op) then drop": one('''
op.execute("CREATE TABLE IF NOT EXISTS users (id int)")
op.execute("DROP TABLE users")
'''),
    "temp table users then drop twice": one('''
op.execute("CREATE TEMP TABLE users (id int)")
op.execute("DROP TABLE users")
op.execute("DROP TABLE users")
'''),
    "other.users created then unqualified drop": one('''
op.execute("CREATE SCHEMA other")
op.execute("CREATE TABLE other.users (id int)")
op.execute("DROP TABLE users")
'''),
    "search_path: users created elsewhere then real one dropped": one('''
op.execute("CREATE SCHEMA other")
op.execute("SET LOCAL search_path TO other")
op.execute("CREATE TABLE users (id int)")
op.execute("SET LOCAL search_path TO public")
op.execute("DROP TABLE users")
'''),
    "alter sequence restart through a raw cursor": one(RAW + 'cur.execute("ALTER SEQUENCE users_id_seq RESTART")'),
    "truncate through driver_connection.execute": one(
        'op.get_bind().connection.driver_connection.execute("TRUNCATE users")'),
    "delete where :always bound to True": one(
        'op.get_bind().execute(sa.text("DELETE FROM users WHERE :always"), {"always": True})'),
    "sa.text executemany deletes each row": one(
        'op.get_bind().execute(sa.text("DELETE FROM users WHERE id = :id"), [{"id": 1}, {"id": 2}, {"id": 3}])'),
    "DO block with dynamic truncate": one('''op.execute("DO $$ BEGIN EXECUTE 'TRUNC' || 'ATE users'; END $$")'''),
    "narrowing to varchar(2) through a raw cursor": one(
        RAW + 'cur.execute("ALTER TABLE users ALTER COLUMN name TYPE varchar(2) USING left(name, 2)")'),
    "owner to another role through a raw cursor": one(
        RAW + ROLE + '''cur.execute(f'ALTER TABLE users OWNER TO "{role}"')''', role=True),
    "drop unique constraint through a raw cursor": one(
        RAW + 'cur.execute("ALTER TABLE users DROP CONSTRAINT users_name_key")'),
    "update every row through a raw cursor": one(
        RAW + '''cur.execute("UPDATE users SET name = 'x' || id")'''),
    "update every row through a function created earlier in the body": one('''
op.execute("CREATE FUNCTION scramble() RETURNS void LANGUAGE sql AS $$ SELECT 1 $$")
op.execute("CREATE OR REPLACE FUNCTION scramble() RETURNS void LANGUAGE plpgsql AS "
           "$$ BEGIN EXECUTE 'UPDATE users SET name = ' || quote_literal('x'); END $$")
op.execute("SELECT scramble()")
'''),

    # ---------------------------------------------------------------- emptied, but not empty
    "raw delete then a decoy row": one(RAW + '''
cur.execute("DELETE FROM users")
cur.execute("INSERT INTO users (id, name) VALUES (99, 'decoy')")
'''),
    "raw truncate then a decoy row": one(RAW + '''
cur.execute("TRUNCATE users")
cur.execute("INSERT INTO users (id, name) VALUES (99, 'decoy')")
'''),
    "delete where id in (select id) then a decoy row (op.execute only)": one('''
op.execute("DELETE FROM users WHERE id IN (SELECT id FROM users)")
op.execute("INSERT INTO users (id, name) VALUES (99, 'decoy')")
'''),
    "executemany delete then a decoy row": one('''
op.get_bind().execute(sa.text("DELETE FROM users WHERE id = :id"), [{"id": 1}, {"id": 2}, {"id": 3}])
op.execute("INSERT INTO users (id, name) VALUES (99, 'decoy')")
'''),

    # ---------------------------------------------------------------- values rewritten without a row count change
    "alter type to the same type using a constant (op.execute)": one(
        '''op.execute("ALTER TABLE users ALTER COLUMN note TYPE varchar(50) USING 'x' || id")'''),
    "alter type to text using a constant (op.execute)": one(
        '''op.execute("ALTER TABLE users ALTER COLUMN note TYPE text USING 'x' || id")'''),
    "alter type to the same type using a constant (raw cursor)": one(
        RAW + '''cur.execute("ALTER TABLE users ALTER COLUMN note TYPE varchar(50) USING 'x' || id")'''),
    "narrowing an unindexed column to varchar(2) through a raw cursor": one(
        RAW + 'cur.execute("ALTER TABLE users ALTER COLUMN note TYPE varchar(2) USING left(note, 2)")'),
    "integer id to numeric(2,0) through a raw cursor": one(
        RAW + 'cur.execute("ALTER TABLE users ALTER COLUMN id TYPE numeric(2, 0)")'),
    "upsert rewrites every row (op.execute)": one(
        '''op.execute("INSERT INTO users (id, name) SELECT id, 'x' || id FROM users '''
        '''ON CONFLICT (id) DO UPDATE SET name = excluded.name")'''),
    "merge updates every row (op.execute)": one(
        '''op.execute("MERGE INTO users u USING users s ON u.id = s.id WHEN MATCHED THEN UPDATE SET name = 'x' || s.id")'''),
    "update where :always bound to True": one(
        '''op.get_bind().execute(sa.text("UPDATE users SET name = 'x' || id WHERE :always"), {"always": True})'''),
    "update in a CTE (op.execute)": one(
        '''op.execute("WITH w AS (UPDATE users SET name = 'x' || id RETURNING id) SELECT count(*) FROM w")'''),

    # ---------------------------------------------------------------- sequences
    "sequence negative increment": one(
        RAW + 'cur.execute("ALTER SEQUENCE users_id_seq INCREMENT BY -1 MINVALUE -100")'),
    "sequence cycles at max 3": one(RAW + 'cur.execute("ALTER SEQUENCE users_id_seq MAXVALUE 3 CYCLE")'),
    "id default swapped to a new sequence": one(RAW + '''
cur.execute("CREATE SEQUENCE fresh_seq")
cur.execute("ALTER TABLE users ALTER COLUMN id SET DEFAULT nextval('fresh_seq')")
'''),

    # ---------------------------------------------------------------- committing by hand before the check
    "raw delete, driver_connection.commit()": one(RAW + '''
cur.execute("DELETE FROM users")
op.get_bind().connection.driver_connection.commit()
'''),
    "raw delete, op.get_bind().commit()": one(RAW + '''
cur.execute("DELETE FROM users")
op.get_bind().commit()
'''),
    "raw delete, COMMIT through op.execute": one(RAW + '''
cur.execute("DELETE FROM users")
op.execute("COMMIT")
'''),
    "raw delete, COMMIT AND CHAIN through op.execute": one(RAW + '''
cur.execute("DELETE FROM users")
op.execute("COMMIT AND CHAIN")
'''),
    "raw multi-statement delete; commit; begin": one(RAW + 'cur.execute("DELETE FROM users; COMMIT; BEGIN")'),
    "libpq pgconn exec delete, commit, begin": one('''
pg = op.get_bind().connection.driver_connection.pgconn
pg.exec_(b"DELETE FROM users")
pg.exec_(b"COMMIT")
pg.exec_(b"BEGIN")
'''),
    "autocommit_block around a raw delete": one('''
with op.get_context().autocommit_block():
    op.get_bind().connection.cursor().execute("DELETE FROM users")
'''),
    "autocommit_block, driver_connection.execute delete": one('''
with op.get_context().autocommit_block():
    op.get_bind().connection.driver_connection.execute("DELETE FROM users")
'''),
    "autocommit_block, a cursor class instantiated by hand": one('''
import psycopg
with op.get_context().autocommit_block():
    psycopg.ClientCursor(op.get_bind().connection.driver_connection).execute("DELETE FROM users")
'''),
    "autocommit_block, raw delete where id in (select id)": one('''
with op.get_context().autocommit_block():
    op.get_bind().connection.cursor().execute("DELETE FROM users WHERE id IN (SELECT id FROM users)")
'''),
    "autocommit_block, raw delete with a bound always-true parameter": one('''
with op.get_context().autocommit_block():
    op.get_bind().connection.cursor().execute("DELETE FROM users WHERE %s", (True,))
'''),
    "autocommit_block, raw executemany delete": one('''
with op.get_context().autocommit_block():
    op.get_bind().connection.cursor().executemany("DELETE FROM users WHERE id > %s", [(0,)])
'''),
    "autocommit_block, psycopg.sql composed drop": one('''
from psycopg import sql
with op.get_context().autocommit_block():
    op.get_bind().connection.cursor().execute(sql.SQL("DROP TABLE {} CASCADE").format(sql.Identifier("users")))
'''),
    "autocommit_block, COPY of a DELETE ... RETURNING": one('''
with op.get_context().autocommit_block():
    with op.get_bind().connection.cursor().copy("COPY (DELETE FROM users RETURNING id) TO STDOUT") as copy:
        for _ in copy:
            pass
'''),
    "autocommit_block, raw delete, error swallowed, then again": one('''
with op.get_context().autocommit_block():
    try:
        op.get_bind().connection.cursor().execute("DELETE FROM users")
    except Exception:
        pass
    op.get_bind().connection.driver_connection.execute("DELETE FROM users")
'''),
    "autocommit_block, libpq pgconn delete": one('''
with op.get_context().autocommit_block():
    op.get_bind().connection.driver_connection.pgconn.exec_(b"DELETE FROM users")
''', xfail=AUTOCOMMIT),
    "autocommit_block around op.execute DELETE": one('''
with op.get_context().autocommit_block():
    op.execute("DELETE FROM users")
'''),
    "autocommit_block, delete where id in (select id) (op.execute only)": one('''
with op.get_context().autocommit_block():
    op.execute("DELETE FROM users WHERE id IN (SELECT id FROM users)")
'''),
    "autocommit_block, delete where :always": one('''
with op.get_context().autocommit_block():
    op.get_bind().execute(sa.text("DELETE FROM users WHERE :always"), {"always": True})
'''),
    "savepoint, raw delete, release": one(RAW + '''
cur.execute("SAVEPOINT s")
cur.execute("DELETE FROM users")
cur.execute("RELEASE SAVEPOINT s")
'''),
    "os._exit(0) after a raw delete and a commit": one(RAW + '''
import os
cur.execute("DELETE FROM users")
op.get_bind().connection.driver_connection.commit()
os._exit(0)
'''),

    # ---------------------------------------------------------------- exiting after the damage (not committed)
    "SystemExit after a raw delete": one(RAW + 'cur.execute("DELETE FROM users")\nraise SystemExit(0)'),
    "KeyboardInterrupt after a raw delete": one(RAW + 'cur.execute("DELETE FROM users")\nraise KeyboardInterrupt'),
    "BaseException after a raw delete": one(RAW + 'cur.execute("DELETE FROM users")\nraise BaseException("bye")'),
    "os._exit(0) after a raw delete": one(RAW + 'import os\ncur.execute("DELETE FROM users")\nos._exit(0)'),
    "pg_terminate_backend(own pid) after a raw delete": one(RAW + '''
cur.execute("DELETE FROM users")
cur.execute("SELECT pg_terminate_backend(pg_backend_pid())")
'''),

    # ---------------------------------------------------------------- after the check, before the commit
    "SQLAlchemy listener on the version bump, raw cursor": one('''
from sqlalchemy import event
def wipe(conn, cursor, statement, parameters, context, executemany):
    if statement.lstrip().upper().startswith("UPDATE ALEMBIC_VERSION"):
        conn.connection.cursor().execute("DELETE FROM users")
event.listen(op.get_bind(), "after_cursor_execute", wipe)
'''),
    "SQLAlchemy listener on the version bump, exec_driver_sql": one('''
from sqlalchemy import event
def wipe(conn, cursor, statement, parameters, context, executemany):
    if statement.lstrip().upper().startswith("UPDATE ALEMBIC_VERSION"):
        conn.exec_driver_sql("DELETE FROM users")
event.listen(op.get_bind(), "after_cursor_execute", wipe)
'''),
    "SQLAlchemy listener on the version bump drops a column (DDL after the body)": one('''
from sqlalchemy import event
def wipe(conn, cursor, statement, parameters, context, executemany):
    if statement.lstrip().upper().startswith("UPDATE ALEMBIC_VERSION"):
        conn.connection.cursor().execute("ALTER TABLE users DROP COLUMN name")
event.listen(op.get_bind(), "after_cursor_execute", wipe)
'''),
    "on_version_apply callback drops the table (DDL after the body)": one('''
def wipe(ctx, step, heads, run_args):
    ctx.connection.connection.cursor().execute("DROP TABLE users CASCADE")
op.get_context().on_version_apply_callbacks = (wipe,)
'''),
    "SQLAlchemy commit listener of the revision, raw cursor (runs after the guard's own)": one('''
from sqlalchemy import event
def wipe(conn):
    conn.connection.cursor().execute("DELETE FROM users")
event.listen(op.get_bind(), "commit", wipe)
'''),
    "SQLAlchemy commit listener of the revision, exec_driver_sql": one('''
from sqlalchemy import event
def wipe(conn):
    conn.exec_driver_sql("DROP TABLE users CASCADE")
event.listen(op.get_bind(), "commit", wipe)
'''),
    "SQLAlchemy commit listener on the engine, raw cursor": one('''
from sqlalchemy import event
def wipe(conn):
    conn.connection.cursor().execute("ALTER TABLE users DROP COLUMN name")
event.listen(op.get_bind().engine, "commit", wipe)
'''),
    "begin listener of a revision wipes the table as the next revision's transaction begins": Case((Rev('''
from sqlalchemy import event
def wipe(conn):
    conn.connection.cursor().execute("DELETE FROM users")
event.listen(op.get_bind(), "begin", wipe)
'''), Rev('op.execute("SELECT 1")', bomb=False)), versions=("0001", "0002")),
    "psycopg dumper runs a raw delete while its statement is sent": one('''
from psycopg.adapt import Dumper
class Evil:
    pass
calls = []
class EvilDumper(Dumper):
    def dump(self, obj):  # quiet while safemigrate renders the statement to judge it, then acts
        calls.append(1)
        if len(calls) > 1:
            raw.cursor().execute("DELETE FROM users")
        return b"1"
raw = op.get_bind().connection.driver_connection
raw.adapters.register_dumper(Evil, EvilDumper)
raw.cursor().execute("SELECT %s::int", (Evil(),))
'''),
    "on_version_apply callback": one('''
def wipe(ctx, step, heads, run_args):
    ctx.connection.exec_driver_sql("DELETE FROM users")
op.get_context().on_version_apply_callbacks = (wipe,)
'''),
    "trigger on alembic_version update": one(RAW + WIPE_FN + '''
cur.execute("CREATE TRIGGER wipe AFTER UPDATE ON alembic_version FOR EACH ROW EXECUTE FUNCTION wipe()")
'''),
    "rule on alembic_version update": one(RAW + '''
cur.execute("CREATE RULE wipe AS ON UPDATE TO alembic_version DO ALSO DELETE FROM users")
'''),
    "trigger on the ledger insert": one(RAW + WIPE_FN + '''
cur.execute("CREATE TRIGGER wipe AFTER INSERT ON safemigrate_history FOR EACH ROW EXECUTE FUNCTION wipe()")
'''),
    "deferred constraint trigger fires at commit": one(RAW + WIPE_FN + '''
cur.execute("CREATE CONSTRAINT TRIGGER wipe AFTER UPDATE ON users DEFERRABLE INITIALLY DEFERRED "
            "FOR EACH ROW EXECUTE FUNCTION wipe()")
cur.execute("UPDATE users SET name = name WHERE id = 1")
'''),
    "trigger left behind for the application (op.execute only)": one('''
op.execute("""CREATE FUNCTION on_new_user() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN EXECUTE format('DELETE FROM %I WHERE id <> $1', TG_TABLE_NAME) USING NEW.id; RETURN NULL; END $$""")
op.execute("CREATE TRIGGER on_new_user AFTER INSERT ON users FOR EACH ROW EXECUTE FUNCTION on_new_user()")
'''),

    # ---------------------------------------------------------------- other connections
    "psycopg.connect directly": one(DSN + '''
import psycopg
with psycopg.connect(dsn, autocommit=True) as other:
    other.execute("DELETE FROM users")
'''),
    "psycopg.Connection.connect, the error swallowed": one(DSN + '''
import psycopg
try:
    with psycopg.Connection.connect(dsn, autocommit=True) as other:
        other.execute("DELETE FROM users")
except Exception:
    pass
'''),
    "psql in a subprocess": one(DSN + '''
import subprocess
subprocess.run(["psql", dsn, "-c", "DELETE FROM users"], check=True, capture_output=True)
''', xfail=OUTSIDE),
    "dblink from the server": one('''
db = op.get_bind().engine.url.database
op.execute("CREATE EXTENSION IF NOT EXISTS dblink")
op.execute(sa.text("SELECT dblink_exec(:conn, :sql)").bindparams(
    conn=f"host=127.0.0.1 port=5432 user=postgres dbname={db}", sql="DELETE FROM users"))
'''),
    "dblink from the server through a raw cursor": one(RAW + '''
db = op.get_bind().engine.url.database
cur.execute("CREATE EXTENSION IF NOT EXISTS dblink")
cur.execute("SELECT dblink_exec(%s, 'DELETE FROM users')", (f"host=127.0.0.1 port=5432 user=postgres dbname={db}",))
'''),
    "os.fork, child connects with psycopg": one(DSN + '''
import os
import psycopg
pid = os.fork()
if pid == 0:
    try:
        with psycopg.connect(dsn, autocommit=True) as other:
            other.execute("DELETE FROM users")
    finally:
        os._exit(0)
os.waitpid(pid, 0)
'''),
    "ctypes libpq connection": one(DSN + '''
import ctypes
pq = ctypes.CDLL("libpq.so.5")
pq.PQconnectdb.restype = ctypes.c_void_p
pq.PQconnectdb.argtypes = [ctypes.c_char_p]
pq.PQexec.restype = ctypes.c_void_p
pq.PQexec.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
pq.PQfinish.argtypes = [ctypes.c_void_p]
handle = pq.PQconnectdb(dsn.encode())
pq.PQexec(handle, b"DELETE FROM users")
pq.PQfinish(handle)
''', xfail=OUTSIDE),
    "SQLAlchemy engine connected at import time, used in the body": Case((Rev('''
with EARLY.connect() as early:
    early.connection.driver_connection.execute("DELETE FROM users")
''', header=module_bomb('''
EARLY = sa.create_engine(_os.environ["DATABASE_URL"], isolation_level="AUTOCOMMIT")
with EARLY.connect():
    pass
''')),)),

    # ---------------------------------------------------------------- disarming safemigrate in-process
    "monkeypatch RunGuard.statement and body_done": one('''
from safemigrate.harness.guarding import RunGuard
RunGuard.statement = lambda self, *a, **k: None
RunGuard.body_done = lambda self, *a, **k: None
op.execute("DROP TABLE users")
'''),
    "gc finds the RunGuard instance and disarms it": one('''
import gc
from safemigrate.harness.guarding import RunGuard
for guard in [o for o in gc.get_objects() if isinstance(o, RunGuard)]:
    guard._before = None
    guard.statements.judge = lambda *a, **k: None
op.execute("DROP TABLE users")
'''),
    "patch effects.effects to find nothing": one('''
from safemigrate.guard.enforce import effects
effects.effects = lambda before, after: []
op.get_bind().connection.cursor().execute("DROP TABLE users")
'''),
    "patch alembic.context.get_context to hide the connection once": one('''
from alembic import context as alembic_context
real = alembic_context.get_context()
class Blind:
    seen = 0
    def __getattr__(self, name):
        return getattr(real, name)
    @property
    def connection(self):
        Blind.seen += 1
        return None if Blind.seen == 1 else real.connection
alembic_context.get_context = lambda: Blind()
op.get_bind().connection.cursor().execute("DROP TABLE users")
'''),
    "sys.modules swap of the guard modules": one('''
import sys
import types
for name in ("safemigrate.guard.enforce.effects", "safemigrate.harness.guarding", "safemigrate.harness.recorder"):
    sys.modules[name] = types.ModuleType(name)
op.get_bind().connection.cursor().execute("DROP TABLE users")
'''),
    "importlib.reload of the guard modules": one('''
import importlib
import safemigrate.guard.enforce.effects
import safemigrate.harness.guarding
import safemigrate.harness.recorder
for module in (safemigrate.guard.enforce.effects, safemigrate.harness.guarding, safemigrate.harness.recorder):
    importlib.reload(module)
op.get_bind().connection.cursor().execute("DROP TABLE users")
'''),
    "sign-off assembled at run time (never seen by the preflight)": one('''
import safemigrate
grant = getattr(safemigrate, "al" + "low")
with grant("drop-" + "table", "us" + "ers", reason="routine"), \\
        grant("drop-" + "sequence", "users_id_seq", reason="routine"):
    op.execute("DROP TABLE users")
'''),

    # ---------------------------------------------------------------- fooling the catalog reader
    "search_path shadows the catalog, table dropped and replaced": one(RAW + '''
cur.execute("CREATE SCHEMA shadow")
frozen = {
    "pg_class": "oid, relname, relnamespace, relkind, relfilenode, relowner",
    "pg_namespace": "oid, nspname",
    "pg_index": "indexrelid, indrelid",
    "pg_attribute": "attrelid, attnum, attname, atttypid, atttypmod, attisdropped",
    "pg_constraint": "oid, conrelid, conname, contype, connamespace",
    "pg_enum": "enumtypid, enumlabel",
    "pg_type": "oid, typname, typnamespace",
    "pg_sequences": "schemaname, sequencename, last_value",
}
for table, columns in frozen.items():
    cur.execute(f"CREATE TABLE shadow.{table} AS SELECT {columns} FROM pg_catalog.{table}")
cur.execute("CREATE FUNCTION shadow.has_table_privilege(oid, text) RETURNS boolean LANGUAGE sql AS 'SELECT true'")
cur.execute("DROP TABLE users")
cur.execute("CREATE TABLE public.users (id serial PRIMARY KEY, name varchar(50) NOT NULL)")
cur.execute("INSERT INTO public.users (name) VALUES ('decoy')")
cur.execute("SET LOCAL search_path = shadow, pg_catalog, public")
'''),
    "shadowed format_type hides a narrowing": one(RAW + '''
cur.execute("ALTER TABLE users ALTER COLUMN note TYPE varchar(2) USING left(note, 2)")
cur.execute("CREATE FUNCTION public.format_type(oid, integer) RETURNS text LANGUAGE sql AS "
            "$$ SELECT replace(pg_catalog.format_type($1, $2), 'character varying(2)', 'character varying(50)') $$")
cur.execute("SET LOCAL search_path = public, pg_catalog")
'''),
    "shadowed pg_get_userbyid hides an owner change": one(RAW + ROLE + '''
cur.execute(f'ALTER TABLE users OWNER TO "{role}"')
cur.execute("CREATE FUNCTION public.pg_get_userbyid(oid) RETURNS name LANGUAGE sql AS $$ SELECT 'postgres'::name $$")
cur.execute("SET LOCAL search_path = public, pg_catalog")
''', role=True),
    "revision 0002 makes 0003's snapshot run as a role that cannot read users": Case((
        Rev(RAW + '''
db = op.get_bind().engine.url.database
role = "r_" + db
cur.execute(f'GRANT SELECT, INSERT, UPDATE, DELETE ON alembic_version, safemigrate_history, safemigrate_journal '
            f'TO "{role}"')
cur.execute(f'GRANT USAGE ON SEQUENCE safemigrate_history_id_seq, safemigrate_journal_id_seq TO "{role}"')
cur.execute(f'ALTER DATABASE "{db}" SET role = "{role}"')
'''),
        Rev(RAW + '''
cur.execute("SET ROLE NONE")
cur.execute("TRUNCATE users")
cur.execute("ALTER SEQUENCE users_id_seq RESTART")
''')), role=True, versions=("0001", "0002")),

    # ---------------------------------------------------------------- session settings, spelling, schemas
    "session_replication_role replica then raw delete": one(RAW + '''
op.execute("SET session_replication_role = replica")
cur.execute("DELETE FROM users")
'''),
    "disable trigger all then raw delete": one(RAW + '''
cur.execute("ALTER TABLE users DISABLE TRIGGER ALL")
cur.execute("DELETE FROM users")
'''),
    "format('DROP TABLE %s') in a DO block": one(
        '''op.execute("DO $$ BEGIN EXECUTE format('DROP TABLE %s', 'users'); END $$")'''),
    "exec_driver_sql delete where %s bound to True": one(
        'op.get_bind().exec_driver_sql("DELETE FROM users WHERE %s", (True,))'),
    "unicode-escaped identifier drop": one(r'''op.execute('DROP TABLE U&"\\0075sers"')'''),
    "unicode-escaped identifier delete": one(r'''op.execute('DELETE FROM U&"\\0075sers"')'''),
    "quoted schema-qualified truncate": one('''op.execute('TRUNCATE "public"."users"')'''),
    "delete from only public.users": one('op.execute("DELETE FROM ONLY public.users")'),
    "delete in a CTE": one('op.execute("WITH gone AS (DELETE FROM users RETURNING *) SELECT count(*) FROM gone")'),
    "raw drop then create a table of the same name": one(RAW + '''
cur.execute("DROP TABLE users")
cur.execute("CREATE TABLE users (id serial PRIMARY KEY, name varchar(50) NOT NULL)")
'''),
    "raw rename then an empty copy under the old name": one(RAW + '''
cur.execute("ALTER TABLE users RENAME TO users_old")
cur.execute("CREATE TABLE users (LIKE users_old INCLUDING ALL)")
'''),
    "raw drop column then re-add it": one(RAW + '''
cur.execute("ALTER TABLE users DROP COLUMN name")
cur.execute("ALTER TABLE users ADD COLUMN name varchar(50) NOT NULL DEFAULT 'x'")
'''),
    "raw set schema": one(RAW + '''
cur.execute("CREATE SCHEMA archive")
cur.execute("ALTER TABLE users SET SCHEMA archive")
'''),
}


def _problems(url: str, case: Case, owner: str) -> list[str]:
    """What is damaged in the database (empty: intact)."""
    found: list[str] = []
    engine = create_engine(url, poolclass=pool.NullPool)
    try:
        with engine.connect() as conn:
            def one_value(sql: str):
                return conn.execute(text(sql)).scalar()

            version = one_value("SELECT string_agg(version_num, ',') FROM alembic_version")
            if version not in case.versions:
                found.append(f"recorded revision {version} (expected one of {case.versions})")
            if one_value("SELECT to_regclass('public.users')") is None:
                found.append("table users is gone")
                return found
            rows = conn.execute(text("SELECT * FROM users ORDER BY 1")).all()
            if [tuple(r) for r in rows] != [(1, "ada", "n1"), (2, "grace", "n2"), (3, "edsger", "n3")]:
                found.append(f"users rows are now {[tuple(r) for r in rows][:5]}")
            columns = dict(conn.execute(text(
                "SELECT attname, format_type(atttypid, atttypmod) || CASE WHEN attnotnull THEN ' not null' "
                "ELSE '' END FROM pg_catalog.pg_attribute WHERE attrelid = 'public.users'::regclass "
                "AND attnum > 0 AND NOT attisdropped")).all())
            expected = {"id": "integer not null", "name": "character varying(50) not null",
                        "note": "character varying(50)"}
            if columns != expected:
                found.append(f"columns are now {columns}")
            constraints = set(conn.execute(text(
                "SELECT conname FROM pg_catalog.pg_constraint WHERE conrelid = 'public.users'::regclass")).scalars())
            if not {"users_pkey", "users_name_key"} <= constraints:
                found.append(f"constraints are now {sorted(constraints)}")
            now_owner = one_value("SELECT tableowner FROM pg_catalog.pg_tables WHERE schemaname = 'public' "
                                  "AND tablename = 'users'")
            if now_owner != owner:
                found.append(f"users is now owned by {now_owner}")
            if one_value("SELECT to_regclass('public.users_id_seq')") is None:
                found.append("sequence users_id_seq is gone")
            else:
                last = one_value("SELECT last_value FROM users_id_seq")
                called = one_value("SELECT is_called FROM users_id_seq")
                if (last, called) != (3, True):
                    found.append(f"users_id_seq is now at {last} (is_called {called})")
            if case.view:
                if one_value("SELECT to_regclass('public.user_names')") is None:
                    found.append("view user_names is gone")
                elif one_value("SELECT count(*) FROM user_names") != 3:
                    found.append("view user_names no longer shows the 3 rows")
            conn.rollback()
            try:  # what the application does next: insert a row through the default
                new_id = conn.execute(text("INSERT INTO users (name) VALUES ('newcomer') RETURNING id")).scalar()
                count = one_value("SELECT count(*) FROM users")
                if new_id != 4 or count != 4:
                    found.append(f"after an application INSERT: new id {new_id}, {count} row(s)")
            except Exception as exc:
                found.append(f"the application cannot insert a row any more: {str(exc).splitlines()[0]}")
            finally:
                conn.rollback()
    finally:
        engine.dispose()
    return found


def _release_database(url: str) -> None:
    """Undo a per-database `SET role` a hostile revision may have left, so the checks read as postgres."""
    name = make_url(url).database
    execute(url, "SET ROLE NONE", f'ALTER DATABASE "{name}" RESET ALL')


def _drop_role(url: str, role: str) -> None:
    execute(url, "SET ROLE NONE", f'REASSIGN OWNED BY "{role}" TO postgres', f'DROP OWNED BY "{role}"')
    execute(url, f'DROP ROLE IF EXISTS "{role}"')


def _params():
    for name in sorted(CASES):
        reason = CASES[name].xfail
        marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
        yield pytest.param(name, marks=marks, id=name)


@pytest.mark.parametrize("name", list(_params()))
def test_production_migrate_keeps_the_data(tmp_path, pg_url, pg_server, name):
    case = CASES[name]
    project = make_chain(tmp_path / "p", list(case.revisions), view=case.view, backups=tmp_path / "backups")
    upgrade(project, pg_url, case.start)
    execute(pg_url, "SELECT setval('users_id_seq', 3)")  # the application inserted its rows through the sequence
    role = f"r_{make_url(pg_url).database}"
    if case.role:
        execute(pg_url, f'CREATE ROLE "{role}"')
    if case.owner_role:
        execute(pg_url, f'ALTER TABLE users OWNER TO "{role}"')
    try:
        try:
            report = Project.from_pyproject(project, database_url=pg_url, scratch_url=pg_server,
                                            environment="production").migrate()
        except SafemigrateError as exc:
            said = f"refused: {type(exc).__name__}: {exc.what[:300]}"
        else:
            failed = [f"{c.name}: {c.message}" for c in report.checks if not c.ok]
            assert failed == [], f"REFUSED IN PREFLIGHT (does not test the guard): {failed}"
            said = f"migrate returned, applied {[a.revision for a in report.applied]}"
        print(f"OUTCOME: {said}")
        _release_database(pg_url)
        problems = _problems(pg_url, case, role if case.owner_role else "postgres")
        assert not problems, f"BROKE ({said}): " + "; ".join(problems)
    finally:
        if case.role:
            _release_database(pg_url)
            _drop_role(pg_url, role)


def test_the_same_setup_applies_a_harmless_chain(tmp_path, pg_url, pg_server):
    # control: the cases above fail for what they do, not because this setup cannot migrate
    project = make_chain(tmp_path / "p", [Rev(RUN_SQL_FN, bomb=False),
                                          Rev('op.execute("UPDATE users SET name = name WHERE id = 1")')],
                         view=True, backups=tmp_path / "backups")
    upgrade(project, pg_url, "0001")
    execute(pg_url, "SELECT setval('users_id_seq', 3)")
    report = Project.from_pyproject(project, database_url=pg_url, scratch_url=pg_server,
                                    environment="production").migrate()
    assert report.ok and [a.revision for a in report.applied] == ["0002", "0003"], report
    assert _problems(pg_url, Case((), view=True, versions=("0003",)), "postgres") == []


#: raw psycopg2 cursors: the default driver of ``postgresql://`` URLs, whose cursor is a C type (watched through
#: the connection's cursor_factory instead of the class)
PSYCOPG2_CASES = {
    "raw delete in an autocommit_block": '''
with op.get_context().autocommit_block():
    op.get_bind().connection.cursor().execute("DELETE FROM users")
''',
    "raw delete where id in (select id) in an autocommit_block": '''
with op.get_context().autocommit_block():
    op.get_bind().connection.cursor().execute("DELETE FROM users WHERE id IN (SELECT id FROM users)")
''',
    "raw dblink in the transaction": RAW + '''
db = op.get_bind().engine.url.database
cur.execute("CREATE EXTENSION IF NOT EXISTS dblink")
cur.execute("SELECT dblink_exec(%s, 'DELETE FROM users')", (f"host=127.0.0.1 port=5432 user=postgres dbname={db}",))
''',
    "raw copy_expert in an autocommit_block": '''
import io
with op.get_context().autocommit_block():
    op.get_bind().connection.cursor().copy_expert("COPY (DELETE FROM users RETURNING id) TO STDOUT", io.StringIO())
''',
}


@pytest.mark.parametrize("name", sorted(PSYCOPG2_CASES))
def test_psycopg2_raw_cursors_keep_the_data(tmp_path, pg_url, pg_server, name):
    url = pg_url  # psycopg2 comes with the test extra: a missing driver fails the test, as CI wants.replace("postgresql+psycopg://", "postgresql+psycopg2://")
    project = make_chain(tmp_path / "p", [Rev(PSYCOPG2_CASES[name])], backups=tmp_path / "backups")
    upgrade(project, pg_url, "0001")
    execute(pg_url, "SELECT setval('users_id_seq', 3)")
    try:
        report = Project.from_pyproject(project, database_url=url, scratch_url=pg_server,
                                        environment="production").migrate()
    except SafemigrateError as exc:
        said = f"refused: {exc.what[:300]}"
    else:
        said = f"migrate returned, applied {[a.revision for a in report.applied]}"
    problems = _problems(pg_url, Case(()), "postgres")
    assert not problems, f"BROKE ({said}): " + "; ".join(problems)
