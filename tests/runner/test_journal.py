"""Nothing applied twice, nothing half-applied silently: the statement journal, under kill -9 (issue #10 §3).

A revision whose steps commit on their own (PostgreSQL's ``autocommit_block``; any DDL on MariaDB) is
killed with SIGKILL at a chosen or a random point. Afterwards the database is read: every step ran at most
once, the journal names exactly the steps that committed, the rerun refuses to run the revision again
(calling it an interrupted revision), and after a person resolves it the rerun completes, each step once.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import configure_backup, run_safemigrate
from helpers import execute, make_project, scalar, table_names, upgrade
from sqlalchemy.engine import make_url

ORIGINAL = {1: "ada", 2: "grace", 3: "edsger"}
STEPS = 6  # step i appends the digit i to the name of user (i - 1) % 3 + 1

# Each step is a data change that must not run twice; on MariaDB each is followed by DDL, which commits it.
PG_BODY = '''
import os, pathlib, time
marks = pathlib.Path(os.environ["SM_MARKS"])
for i in range(1, 7):
    with op.get_context().autocommit_block():
        op.execute(f"UPDATE users SET name = name || '{i}' WHERE id = {(i - 1) % 3 + 1}")
    (marks / str(i)).touch()
    if i == int(os.environ.get("SM_KILL_AT", "0")):
        time.sleep(600)
    time.sleep(float(os.environ.get("SM_PAUSE", "0")))
'''
MARIADB_BODY = '''
import os, pathlib, time
marks = pathlib.Path(os.environ["SM_MARKS"])
for i in range(1, 7):
    op.execute(f"UPDATE users SET name = CONCAT(name, '{i}') WHERE id = {(i - 1) % 3 + 1}")
    op.execute(f"CREATE TABLE scratch_{i} (id INTEGER)")
    op.execute(f"DROP TABLE scratch_{i}")
    (marks / str(i)).touch()
    if i == int(os.environ.get("SM_KILL_AT", "0")):
        time.sleep(600)
    time.sleep(float(os.environ.get("SM_PAUSE", "0")))
'''


def _expected(steps_done: int) -> dict[int, str]:
    names = dict(ORIGINAL)
    for i in range(1, steps_done + 1):
        names[(i - 1) % 3 + 1] += str(i)
    return names


def _names(url: str) -> dict[int, str]:
    from sqlalchemy import create_engine, pool, text

    engine = create_engine(url, poolclass=pool.NullPool)
    try:
        with engine.connect() as conn:
            return {row[0]: row[1] for row in conn.execute(text("SELECT id, name FROM users ORDER BY id"))}
    finally:
        engine.dispose()


def _steps_applied(names: dict[int, str]) -> int:
    """How many steps the names show, asserting that each ran at most once and in order."""
    for count in range(STEPS + 1):
        if names == _expected(count):
            return count
    raise AssertionError(f"the names show a step applied twice or out of order: {names}")


def _project(tmp_path: Path, backend: str) -> Path:
    return make_project(tmp_path / "app", PG_BODY if backend == "postgresql" else MARIADB_BODY)


def _migrate(project: Path, url: str, marks: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return run_safemigrate("migrate", "--env", "development", "--database-url", url, cwd=project,
                           env={"SM_MARKS": str(marks), **env})


def _start(project: Path, url: str, marks: Path, **env: str) -> subprocess.Popen[str]:
    full_env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "APP_ENV"}}
    full_env.update(SM_MARKS=str(marks), **env)
    exe = Path(sys.executable).with_name("safemigrate")
    return subprocess.Popen([str(exe), "migrate", "--env", "development", "--database-url", url], cwd=project,
                            env=full_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)


def _kill(process: subprocess.Popen[str]) -> None:
    os.killpg(process.pid, signal.SIGKILL)  # the CLI and the process running env.py
    process.communicate(timeout=60)


def _wait_for(path: Path, process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 240
    while not path.exists():
        if process.poll() is not None:
            raise AssertionError(f"migrate ended before {path.name}: {process.communicate()[0]}")
        assert time.monotonic() < deadline, f"{path.name} never appeared"
        time.sleep(0.05)


def _journal(url: str) -> list[tuple[int, str, str]]:
    from sqlalchemy import create_engine, inspect, pool, text

    engine = create_engine(url, poolclass=pool.NullPool)
    try:
        if "safemigrate_journal" not in inspect(engine).get_table_names():
            return []  # killed before the run began
        with engine.connect() as conn:
            return [tuple(r) for r in conn.execute(text(
                "SELECT step, state, statement FROM safemigrate_journal WHERE step > 0 ORDER BY id"))]
    finally:
        engine.dispose()


def _resolve_by_hand(project: Path, url: str, marks: Path, applied: int) -> None:
    """What the message tells a person to do: undo the committed steps, resolve, rerun."""
    for user, name in ORIGINAL.items():
        execute(url, f"UPDATE users SET name = '{name}' WHERE id = {user}")
    if url.startswith("mysql"):  # a kill between a step's CREATE and DROP leaves its table
        execute(url, *[f"DROP TABLE IF EXISTS scratch_{i}" for i in range(1, STEPS + 1)])
    resolved = run_safemigrate("ledger", "resolve", "0002", "--reason", f"undid {applied} step(s) by hand",
                               "--database-url", url, cwd=project)
    assert resolved.returncode == 0, resolved.stdout + resolved.stderr
    again = _migrate(project, url, marks)
    assert again.returncode == 0, again.stdout + again.stderr
    assert _names(url) == _expected(STEPS)
    assert scalar(url, "SELECT version_num FROM alembic_version") == "0002"


@pytest.fixture(params=["postgresql", "mysql"])
def database(request) -> str:
    return request.getfixturevalue("pg_url" if request.param == "postgresql" else "mysql_url")


def _backend(url: str) -> str:
    return "postgresql" if url.startswith("postgresql") else "mysql"


@pytest.mark.slow
@pytest.mark.parametrize("kill_at", range(1, STEPS + 1))
def test_killed_after_step_k_is_never_run_twice(tmp_path, database, kill_at):
    url = database
    project = _project(tmp_path, _backend(url))
    upgrade(project, url, "0001")
    marks = tmp_path / "marks"
    marks.mkdir()
    process = _start(project, url, marks, SM_KILL_AT=str(kill_at))
    _wait_for(marks / str(kill_at), process)
    _kill(process)

    assert _names(url) == _expected(kill_at)
    assert scalar(url, "SELECT version_num FROM alembic_version") == "0001"
    done = [statement for _, state, statement in _journal(url) if state == "done" and "UPDATE" in statement]
    assert len(done) == kill_at, _journal(url)

    rerun = _migrate(project, url, marks)
    output = rerun.stdout + rerun.stderr
    assert rerun.returncode == 1, output
    assert "interrupted" in output.lower() and "ledger resolve 0002" in output
    assert f"'{kill_at}'" in output  # the last committed step is named
    assert "changed the schema by hand" not in output
    assert _names(url) == _expected(kill_at)  # the refusal ran nothing
    assert scalar(url, "SELECT version_num FROM alembic_version") == "0001"

    _resolve_by_hand(project, url, marks, kill_at)


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(20))
def test_killed_at_a_random_moment_nothing_runs_twice(tmp_path, database, seed):
    url = database
    project = _project(tmp_path, _backend(url))
    upgrade(project, url, "0001")
    marks = tmp_path / "marks"
    marks.mkdir()
    rng = random.Random(f"{_backend(url)}-{seed}")
    process = _start(project, url, marks, SM_PAUSE="0.15")
    _wait_for(marks / "1", process) if seed % 2 else None  # odd seeds: kill after the steps began
    time.sleep(rng.uniform(0.0, 1.0))
    _kill(process)

    applied = _steps_applied(_names(url))
    version = scalar(url, "SELECT version_num FROM alembic_version")
    journal = _journal(url) if version != "0002" else []
    updates = [(state, statement) for _, state, statement in journal if "UPDATE" in statement]
    if version == "0002":  # killed after the revision committed (in the check that follows it)
        assert applied == STEPS
    else:  # the journal holds every committed step; only the one running at the kill may be unconfirmed
        assert len([u for u in updates if u[0] == "done"]) <= applied <= len(updates), (applied, updates)

    rerun = _migrate(project, url, marks)
    if version == "0002" or not updates:
        assert rerun.returncode == 0, rerun.stdout + rerun.stderr
        assert _names(url) == _expected(STEPS)
    else:
        assert rerun.returncode == 1, rerun.stdout + rerun.stderr
        assert "ledger resolve 0002" in rerun.stdout + rerun.stderr
        assert _steps_applied(_names(url)) == applied  # the refusal ran nothing
        _resolve_by_hand(project, url, marks, applied)


def test_a_failure_after_committed_steps_names_them_and_blocks_the_rerun(tmp_path, pg_url):
    project = make_project(tmp_path / "app", '''
with op.get_context().autocommit_block():
    op.execute("UPDATE users SET name = name || '1' WHERE id = 1")
op.execute("SELECT * FROM no_such_table")
''')
    upgrade(project, pg_url, "0001")
    first = _migrate(project, pg_url, tmp_path)
    output = first.stdout + first.stderr
    assert first.returncode == 3, output
    assert "UPDATE users SET name = name || '1' WHERE id = 1" in output
    assert "left nothing behind" not in output
    assert "no_such_table" in output
    second = _migrate(project, pg_url, tmp_path)
    assert second.returncode == 1, second.stdout + second.stderr
    assert _names(pg_url)[1] == "ada1"  # once


SIGNED = '''
# safemigrate: rerun-converges
import os
with op.get_context().autocommit_block():
    op.execute("{update}")
if os.path.exists(os.environ["SM_FAIL_ONCE"]):
    os.remove(os.environ["SM_FAIL_ONCE"])
    raise RuntimeError("interrupted after the first step")
'''


@pytest.mark.parametrize("update, reruns", [
    ("UPDATE users SET name = name || '1' WHERE id = 1", False),  # would apply twice: the signature is not enough
    ("UPDATE users SET name = 'filled' WHERE name IS NULL AND id = 1", True),  # a fill of NULLs converges
])
def test_a_signed_revision_reruns_only_when_its_committed_steps_can_run_again(tmp_path, pg_url, update, reruns):
    project = make_project(tmp_path / "app", SIGNED.replace("{update}", update))
    upgrade(project, pg_url, "0001")
    flag = tmp_path / "fail-once"
    flag.touch()
    first = _migrate(project, pg_url, tmp_path, SM_FAIL_ONCE=str(flag))
    assert first.returncode == 3, first.stdout + first.stderr
    second = _migrate(project, pg_url, tmp_path, SM_FAIL_ONCE=str(flag))
    output = second.stdout + second.stderr
    if reruns:
        assert second.returncode == 0, output
        assert scalar(pg_url, "SELECT version_num FROM alembic_version") == "0002"
    else:
        assert second.returncode == 1 and "interrupted" in output.lower(), output
        assert scalar(pg_url, "SELECT version_num FROM alembic_version") == "0001"
        assert _names(pg_url)[1] == "ada1"  # once


def test_a_failed_autocommit_statement_is_not_reported_as_committed(tmp_path, pg_url):
    project = make_project(tmp_path / "app", '''
with op.get_context().autocommit_block():
    op.execute("UPDATE no_such_table SET x = 1 WHERE x = 2")
''')
    upgrade(project, pg_url, "0001")
    first = _migrate(project, pg_url, tmp_path)
    assert first.returncode == 3, first.stdout + first.stderr
    assert "left nothing behind" in first.stdout + first.stderr
    assert [state for _, state, _ in _journal(pg_url)] == ["failed"]
    # nothing committed: a rerun is allowed (and fails the same way, for the same reason)
    second = _migrate(project, pg_url, tmp_path)
    assert second.returncode == 3 and "interrupted" not in (second.stdout + second.stderr).lower()


def test_statements_before_an_autocommit_block_are_journaled_with_it(tmp_path, pg_url):
    """autocommit_block first commits the revision's transaction so far: those statements are steps too."""
    project = make_project(tmp_path / "app", '''
op.add_column("users", sa.Column("nickname", sa.String(20)))
with op.get_context().autocommit_block():
    op.execute("CREATE INDEX CONCURRENTLY ix_users_name ON users (name)")
op.execute("SELECT * FROM no_such_table")
''')
    upgrade(project, pg_url, "0001")
    assert _migrate(project, pg_url, tmp_path).returncode == 3
    statements = [statement for _, state, statement in _journal(pg_url) if state == "done"]
    assert statements[0].startswith("ALTER TABLE users ADD COLUMN nickname")
    assert statements[1].startswith("CREATE INDEX CONCURRENTLY ix_users_name")
    assert "nickname" in _columns(pg_url)  # it did commit: the journal tells the truth


def _columns(url: str) -> list[str]:
    from sqlalchemy import create_engine, inspect, pool

    engine = create_engine(url, poolclass=pool.NullPool)
    try:
        return [c["name"] for c in inspect(engine).get_columns("users")]
    finally:
        engine.dispose()


def test_a_transactional_revision_leaves_no_open_attempt(tmp_path, pg_url):
    project = make_project(tmp_path / "app", 'op.execute("UPDATE users SET name = name || \'!\' WHERE id = 1")')
    upgrade(project, pg_url, "0001")
    assert _migrate(project, pg_url, tmp_path).returncode == 0
    assert _journal(pg_url) == []  # nothing committed on its own
    assert scalar(pg_url, "SELECT count(*) FROM safemigrate_history WHERE action = 'applied' "
                          "AND attempt IS NOT NULL") == 1


def test_resolve_without_an_interrupted_attempt_changes_nothing(tmp_path, pg_url):
    project = make_project(tmp_path / "app", "pass")
    upgrade(project, pg_url, "0001")
    assert _migrate(project, pg_url, tmp_path).returncode == 0
    rows = scalar(pg_url, "SELECT count(*) FROM safemigrate_history")
    result = run_safemigrate("ledger", "resolve", "0002", "--reason", "x", "--database-url", pg_url, cwd=project)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "no interrupted attempt" in result.stdout + result.stderr
    assert scalar(pg_url, "SELECT count(*) FROM safemigrate_history") == rows
    # and on a database safemigrate never touched, nothing is created
    fresh = f"sqlite:///{tmp_path / 'fresh.db'}"
    untouched = run_safemigrate("ledger", "resolve", "0002", "--reason", "x", "--database-url", fresh, cwd=project)
    assert untouched.returncode == 2
    assert not (tmp_path / "fresh.db").exists() or table_names(fresh) == set()


SIGNED_SCHEMA_STEPS = '''
# safemigrate: rerun-converges
import os
with op.get_context().autocommit_block():
    op.execute("ALTER TABLE users ADD COLUMN IF NOT EXISTS extra integer")
    op.execute("CREATE INDEX CONCURRENTLY IF NOT EXISTS ix_users_extra ON users (extra)")
live = op.get_bind().engine.url.database == os.environ["SM_LIVE"]  # the throwaway builds run it whole
if live and os.path.exists(os.environ["SM_FAIL_ONCE"]):
    os.remove(os.environ["SM_FAIL_ONCE"])
    raise RuntimeError("interrupted after the autocommit block")
'''


def _signed_project(tmp_path: Path) -> Path:
    project = make_project(tmp_path / "app", SIGNED_SCHEMA_STEPS)
    models = project / "guardapp" / "models.py"
    models.write_text(models.read_text().replace(
        'sa.Column("name", sa.String(50), nullable=False))',
        'sa.Column("name", sa.String(50), nullable=False),\n'
        '                 sa.Column("extra", sa.Integer, nullable=True),\n'
        '                 sa.Index("ix_users_extra", "extra"))'))
    configure_backup(project, url=str(tmp_path / "backups"))
    return project


def test_production_finishes_a_signed_revision_whose_committed_steps_converge(tmp_path, pg_url, pg_server):
    # the preflight accepts the interrupted attempt (and the column and index its steps left) because running
    # the revision again finishes it; anything else out of band still stops the run
    project = _signed_project(tmp_path)
    upgrade(project, pg_url, "0001")
    flag = tmp_path / "fail-once"
    flag.touch()
    production = {"SM_FAIL_ONCE": str(flag), "SM_LIVE": make_url(pg_url).database,
                  "SAFEMIGRATE_SCRATCH_URL": pg_server}
    first = run_safemigrate("migrate", "--env", "production", "--database-url", pg_url, cwd=project, env=production)
    assert first.returncode == 3, first.stdout + first.stderr
    assert "extra" in _columns(pg_url)  # the autocommit block committed
    second = run_safemigrate("migrate", "--env", "production", "--database-url", pg_url, cwd=project,
                             env=production)
    output = second.stdout + second.stderr
    assert second.returncode == 0, output
    assert "finished by running it again" in output
    assert scalar(pg_url, "SELECT version_num FROM alembic_version") == "0002"
    assert scalar(pg_url, "SELECT count(*) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
                          "WHERE c.relname = 'ix_users_extra' AND i.indisvalid") == 1
    actions = scalar(pg_url, "SELECT string_agg(action, ',' ORDER BY id) FROM safemigrate_history "
                             "WHERE revision = '0002'")
    assert actions.split(",").count("applied") == 1 and "resolved" in actions, actions  # the attempt closed


def test_production_still_stops_on_a_change_by_hand_beside_a_converging_attempt(tmp_path, pg_url, pg_server):
    project = _signed_project(tmp_path)
    upgrade(project, pg_url, "0001")
    flag = tmp_path / "fail-once"
    flag.touch()
    production = {"SM_FAIL_ONCE": str(flag), "SM_LIVE": make_url(pg_url).database,
                  "SAFEMIGRATE_SCRATCH_URL": pg_server}
    run_safemigrate("migrate", "--env", "production", "--database-url", pg_url, cwd=project, env=production)
    execute(pg_url, "CREATE INDEX ix_by_hand ON users (name)")
    second = run_safemigrate("migrate", "--env", "production", "--database-url", pg_url, cwd=project,
                             env=production)
    assert second.returncode == 1 and "ix_by_hand" in second.stdout, second.stdout + second.stderr
    assert scalar(pg_url, "SELECT version_num FROM alembic_version") == "0001"
