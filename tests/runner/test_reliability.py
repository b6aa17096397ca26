"""Reliability of the runner on a real PostgreSQL: lock timeouts, invalid indexes, SIGKILL at random moments."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import configure_backup
from helpers import execute, make_project, scalar, upgrade
from sqlalchemy import create_engine, pool, text
from sqlalchemy.exc import IntegrityError

from safemigrate import Project

pytestmark = pytest.mark.postgres


def _set(project: Path, key: str, value: str) -> None:
    pyproject = project / "pyproject.toml"
    text = pyproject.read_text()
    pyproject.write_text(text.replace("[tool.safemigrate]\n", f"[tool.safemigrate]\n{key} = {value}\n", 1))


def test_lock_timeout_is_retried_then_names_the_blocking_session(shop, pg_url):
    upgrade(shop, pg_url, "916a526e23a8")
    _set(shop, "lock_timeout", '"150ms"')
    blocker = create_engine(pg_url, poolclass=pool.NullPool).connect()
    try:
        blocker.execute(text("LOCK TABLE orders IN EXCLUSIVE MODE"))  # CREATE INDEX on orders must wait
        project = Project.from_pyproject(shop, database_url=pg_url, environment="development")
        from safemigrate.core.errors import LockBlocked

        started = time.monotonic()
        with pytest.raises(LockBlocked) as info:
            project.migrate(retries=2, backoff=0.05)
        assert time.monotonic() - started < 30
        message = str(info.value)
        assert "36c914febd34" in message and "after 3 attempts" in message
        assert "LOCK TABLE orders IN EXCLUSIVE MODE" in message  # the blocking query is named
        assert scalar(pg_url, "SELECT version_num FROM alembic_version") == "916a526e23a8"
    finally:
        blocker.rollback()
        blocker.close()
    report = Project.from_pyproject(shop, database_url=pg_url, environment="development").migrate()
    assert report.ok and report.applied[-1].revision == "d5f6b1370600"


def test_retry_succeeds_when_the_blocker_goes_away(shop, pg_url):
    import threading

    upgrade(shop, pg_url, "916a526e23a8")
    _set(shop, "lock_timeout", '"200ms"')
    blocker = create_engine(pg_url, poolclass=pool.NullPool).connect()
    blocker.execute(text("LOCK TABLE orders IN EXCLUSIVE MODE"))
    watcher = create_engine(pg_url, poolclass=pool.NullPool)
    waiting = ("SELECT count(*) FROM pg_locks WHERE NOT granted AND relation = 'orders'::regclass")

    def release_after_the_first_attempt_gave_up() -> None:
        # events, not sleeps: the migrator queued behind the lock, then its lock_timeout expired
        with watcher.connect() as conn:
            while not conn.execute(text(waiting)).scalar():
                time.sleep(0.01)
            while conn.execute(text(waiting)).scalar():
                time.sleep(0.01)
        blocker.rollback()
        blocker.close()

    releaser = threading.Thread(target=release_after_the_first_attempt_gave_up, daemon=True)
    releaser.start()
    report = Project.from_pyproject(shop, database_url=pg_url, environment="development").migrate(retries=5,
                                                                                                  backoff=0.2)
    releaser.join(timeout=60)
    watcher.dispose()
    assert report.ok
    first = next(a for a in report.applied if a.revision == "36c914febd34")
    assert first.attempts > 1


def test_invalid_index_left_by_concurrently_is_reported(shop, pg_url, pg_server):
    upgrade(shop, pg_url, "916a526e23a8")
    execute(pg_url, "INSERT INTO customers (id, email, full_name) VALUES (1, 'a@x', 'A'), (2, 'b@x', 'A')")
    engine = create_engine(pg_url, poolclass=pool.NullPool, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        with pytest.raises(IntegrityError):
            conn.execute(text("CREATE UNIQUE INDEX CONCURRENTLY ix_dup_name ON customers (full_name)"))
    engine.dispose()
    configure_backup(shop, url=str(shop.parent / "backups"))
    report = Project.from_pyproject(shop, database_url=pg_url, scratch_url=pg_server,
                                    environment="production").migrate()
    check = next(c for c in report.checks if c.name == "no invalid indexes")
    assert not check.ok and "ix_dup_name" in check.message
    assert "DROP INDEX CONCURRENTLY ix_dup_name" in check.fix
    assert report.applied == []


SLOW_REVISION = """op.create_table("t2", sa.Column("id", sa.Integer, primary_key=True))
op.execute("SELECT pg_sleep(0.25)")
op.execute("INSERT INTO t2 VALUES (1)")
op.execute("SELECT pg_sleep(0.25)")
op.add_column("users", sa.Column("extra", sa.Integer))"""


@pytest.mark.slow
def test_sigkill_at_random_moments_never_leaves_a_half_applied_revision(tmp_path, pg_url):
    project = make_project(tmp_path / "p", SLOW_REVISION)
    models = project / "guardapp" / "models.py"
    models.write_text(models.read_text() + 't2 = sa.Table("t2", metadata, sa.Column("id", sa.Integer, '
                      'primary_key=True))\n')
    models.write_text(models.read_text().replace('sa.Column("name", sa.String(50), nullable=False))',
                                                 'sa.Column("name", sa.String(50), nullable=False),\n'
                                                 '                 sa.Column("extra", sa.Integer))'))
    exe = Path(sys.executable).with_name("safemigrate")
    env = {**os.environ, "DATABASE_URL": pg_url, "APP_ENV": "development"}
    rng = random.Random(20261124)
    outcomes = {"0001": 0, "0002": 0}
    for _ in range(20):
        process = subprocess.Popen([str(exe), "migrate"], cwd=project, env=env, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0.3, 3.0))
        process.send_signal(signal.SIGKILL)
        process.wait()
        version = _version(pg_url)
        tables = _tables(pg_url)
        if version == "0002":
            assert "t2" in tables and scalar(pg_url, "SELECT count(*) FROM t2") == 1
            assert "extra" in _columns(pg_url, "users")
            assert scalar(pg_url, "SELECT count(*) FROM safemigrate_history WHERE revision = '0002' "
                                  "AND action = 'applied'") == 1
            outcomes["0002"] += 1
            # go back to 0001 so the next kill has something to interrupt
            execute(pg_url, "DROP TABLE t2", "ALTER TABLE users DROP COLUMN extra",
                    "UPDATE alembic_version SET version_num = '0001'",
                    "DELETE FROM safemigrate_history WHERE revision = '0002'")
        else:
            assert version in {None, "0001"}
            assert "t2" not in tables and "extra" not in _columns(pg_url, "users") if "users" in tables else True
            outcomes["0001"] += 1
    final = subprocess.run([str(exe), "migrate"], cwd=project, env=env, capture_output=True, text=True,
                           timeout=120)
    assert final.returncode == 0, final.stdout + final.stderr
    assert _version(pg_url) == "0002"
    assert outcomes["0001"] >= 1  # some kills landed mid-run


def _version(url: str) -> str | None:
    if "alembic_version" not in _tables(url):
        return None
    return scalar(url, "SELECT version_num FROM alembic_version")


def _tables(url: str) -> set[str]:
    from helpers import table_names

    return table_names(url)


def _columns(url: str, table: str) -> set[str]:
    from sqlalchemy import inspect

    engine = create_engine(url, poolclass=pool.NullPool)
    try:
        return {c["name"] for c in inspect(engine).get_columns(table)}
    finally:
        engine.dispose()


CONCURRENT_INDEX = """with op.get_context().autocommit_block():
    op.create_index("ix_users_name", "users", ["name"], postgresql_concurrently=True)"""


def test_concurrent_index_under_the_migrator_lock_does_not_deadlock(tmp_path, pg_url):
    project = make_project(tmp_path / "p", CONCURRENT_INDEX)
    models = project / "guardapp" / "models.py"
    models.write_text(models.read_text() + 'sa.Index("ix_users_name", users.c.name)\n')
    configure_backup(project, url=str(tmp_path / "backups"))
    started = time.monotonic()
    report = Project.from_pyproject(project, database_url=pg_url, environment="production").migrate(lock_wait=30)
    assert report.ok, [(c.name, c.message) for c in report.checks if not c.ok]
    assert time.monotonic() - started < 60
    assert scalar(pg_url, "SELECT count(*) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
                          "WHERE c.relname = 'ix_users_name' AND i.indisvalid") == 1


def test_statement_timeout_is_applied(tmp_path, pg_url):
    project = make_project(tmp_path / "p", 'op.execute("SELECT pg_sleep(3)")')
    _set(project, "statement_timeout", '"300ms"')
    from safemigrate.core.errors import MigrationFailed

    with pytest.raises(MigrationFailed) as info:
        Project.from_pyproject(project, database_url=pg_url, environment="development").migrate()
    assert "statement timeout" in str(info.value).lower()
    assert scalar(pg_url, "SELECT version_num FROM alembic_version") == "0001"


def test_our_invalid_index_is_dropped_and_rebuilt(tmp_path, pg_url, pg_server):
    project = make_project(tmp_path / "p", CONCURRENT_INDEX)
    models = project / "guardapp" / "models.py"
    models.write_text(models.read_text() + 'sa.Index("ix_users_name", users.c.name)\n')
    import os
    import subprocess
    import sys

    alembic = Path(sys.executable).with_name("alembic")
    subprocess.run([str(alembic), "upgrade", "0001"], cwd=project, env={**os.environ, "DATABASE_URL": pg_url},
                   check=True, capture_output=True)
    # simulate an interrupted CREATE INDEX CONCURRENTLY of revision 0002: an INVALID index of the same name
    execute(pg_url, "INSERT INTO users (id, name) VALUES (10, 'x'), (11, 'x')")
    engine = create_engine(pg_url, poolclass=pool.NullPool, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        with pytest.raises(IntegrityError):
            conn.execute(text("CREATE UNIQUE INDEX CONCURRENTLY ix_users_name ON users (name)"))
    engine.dispose()
    configure_backup(project, url=str(tmp_path / "backups"))
    report = Project.from_pyproject(project, database_url=pg_url, scratch_url=pg_server,
                                    environment="production").migrate()
    assert report.ok, ([(c.name, c.message) for c in report.checks if not c.ok], report.remaining_differences)
    assert any("Dropped invalid index ix_users_name" in n for n in report.notes)
    assert scalar(pg_url, "SELECT count(*) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
                          "WHERE c.relname = 'ix_users_name' AND i.indisvalid") == 1


PG_ONLY_INDEX = '''with op.get_context().autocommit_block():
    op.execute("CREATE INDEX CONCURRENTLY IF NOT EXISTS ix_users_name ON users USING btree (name) "
               "WITH (fillfactor = 90)")'''


def test_development_without_a_scratch_server_still_drops_our_invalid_index(tmp_path, pg_url):
    # no scratch_url: the throwaway database would be SQLite, where this PostgreSQL-only revision cannot run;
    # which indexes the pending revisions build is read from Alembic's offline SQL for PostgreSQL instead
    project = make_project(tmp_path / "p", PG_ONLY_INDEX)
    models = project / "guardapp" / "models.py"
    models.write_text(models.read_text() + 'sa.Index("ix_users_name", users.c.name)\n')
    upgrade(project, pg_url, "0001")
    execute(pg_url, "INSERT INTO users (id, name) VALUES (10, 'x'), (11, 'x')")
    engine = create_engine(pg_url, poolclass=pool.NullPool, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        with pytest.raises(IntegrityError):
            conn.execute(text("CREATE UNIQUE INDEX CONCURRENTLY ix_users_name ON users (name)"))
    engine.dispose()
    report = Project.from_pyproject(project, database_url=pg_url, environment="development").migrate()
    assert [a.revision for a in report.applied] == ["0002"]
    assert any("Dropped invalid index ix_users_name" in n for n in report.notes)
    assert scalar(pg_url, "SELECT count(*) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
                          "WHERE c.relname = 'ix_users_name' AND i.indisvalid AND NOT i.indisunique") == 1
