"""safemigrate rehearse: the stalls it reports are the ones an application sees; the copy never survives.

Accuracy is checked against an *independent* writer: a process of its own, with its own connection,
inserting rows into the table in a loop while the rehearsal runs on the same database (--from-url). The
longest insert it saw is compared with the writer stall rehearse reports for the statement.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import POSTGRES_URL, run_safemigrate
from helpers import execute, make_project, scalar, upgrade
from sqlalchemy import create_engine, pool, text
from sqlalchemy.engine import make_url

from safemigrate.api import Project
from safemigrate.core.errors import MigrationFailed
from safemigrate.rehearsal.copies import CopySource

pytestmark = pytest.mark.postgres

ROWS = 200_000
NAIVE_INDEX = 'op.create_index("ix_users_name", "users", ["name"])'
CONCURRENT_INDEX = '''with op.get_context().autocommit_block():
    op.create_index("ix_users_name", "users", ["name"], postgresql_concurrently=True)'''

WRITER = r'''
import json, os, sys, time
import psycopg
url, stop, out = sys.argv[1:4]
conn = psycopg.connect(url, autocommit=True)
seen = []
key = 10_000_000
while not os.path.exists(stop):
    started = time.monotonic()
    conn.execute("INSERT INTO users (id, name) VALUES (%s, 'independent')", (key,))
    seen.append((started, time.monotonic()))
    key += 1
    time.sleep(0.002)
with open(out, "w") as handle:
    json.dump(seen, handle)
'''


def _filled_project(root: Path, url: str, body: str, rows: int = ROWS) -> Path:
    project = make_project(root / "app", body)
    upgrade(project, url, "0001")
    execute(url, f"INSERT INTO users (id, name) SELECT g, md5(g::text) FROM generate_series(10, {rows + 9}) g",
            "ANALYZE users")
    return project


def _libpq(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


class IndependentWriter:
    """A separate process inserting into users in a loop; the latency of each insert it sent."""

    def __init__(self, url: str, folder: Path):
        self.stop_file = folder / "stop"
        self.out = folder / "writer.json"
        self.process = subprocess.Popen([sys.executable, "-c", WRITER, _libpq(url), str(self.stop_file),
                                         str(self.out)])
        deadline = time.monotonic() + 30
        while scalar(url, "SELECT count(*) FROM users WHERE name = 'independent'") == 0:
            assert time.monotonic() < deadline, "the independent writer never wrote"
            time.sleep(0.05)

    def finish(self) -> list[tuple[float, float]]:
        self.stop_file.write_text("")
        self.process.wait(timeout=60)
        return [tuple(pair) for pair in json.loads(self.out.read_text())]


def _databases(prefix: str = "safemigrate_tmp_") -> set[str]:
    engine = create_engine(POSTGRES_URL, poolclass=pool.NullPool)
    try:
        with engine.connect() as conn:
            return set(conn.execute(text("SELECT datname FROM pg_database WHERE datname LIKE :p"),
                                    {"p": prefix + "%"}).scalars())
    finally:
        engine.dispose()


@pytest.fixture
def copy_names(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The names of the throwaway databases made in this test (other runs may make theirs meanwhile)."""
    from safemigrate.harness import scratch

    names: list[str] = []
    original = scratch.new_scratch_name

    def recording() -> str:
        names.append(original())
        return names[-1]

    monkeypatch.setattr(scratch, "new_scratch_name", recording)
    return names


def test_naive_create_index_stall_matches_an_independent_writer(tmp_path: Path, pg_url: str) -> None:
    project_dir = _filled_project(tmp_path, pg_url, NAIVE_INDEX)
    writer = IndependentWriter(pg_url, tmp_path)
    try:
        report = Project.from_pyproject(project_dir).rehearse(source=CopySource(from_url=pg_url))
    finally:
        seen = writer.finish()
    [row] = [r for r in report.statements if r.sql.startswith("CREATE INDEX")]
    independent = max((end - start) * 1000 for start, end in seen)
    assert [(lock.relation, lock.mode) for lock in row.locks] == [("users", "SHARE")] and not row.locks_sampled
    assert row.rewrite is False
    assert row.writer_stall_ms.max is not None
    assert independent > 50, "the index was built too fast to stall anything: use more rows"
    assert abs(row.writer_stall_ms.max - independent) <= max(20.0, 0.2 * independent), (row, independent)
    # reads are not blocked by SHARE
    assert row.reader_stall_ms.max is not None and row.reader_stall_ms.max < independent / 2


def test_create_index_concurrently_reports_no_stall(tmp_path: Path, pg_url: str) -> None:
    project_dir = _filled_project(tmp_path, pg_url, CONCURRENT_INDEX)
    writer = IndependentWriter(pg_url, tmp_path)
    try:
        report = Project.from_pyproject(project_dir).rehearse(source=CopySource(from_url=pg_url))
    finally:
        seen = writer.finish()
    [row] = [r for r in report.statements if "CONCURRENTLY" in r.sql]
    assert row.in_transaction is False and row.locks_sampled
    assert ("users", "SHARE UPDATE EXCLUSIVE") in [(lock.relation, lock.mode) for lock in row.locks]
    # writers never waited for the build: no write took a sizeable part of it (a SHARE lock would make one write
    # wait for all of it); a ratio within the same run, so a loaded machine does not turn it into a failure
    assert (row.writer_stall_ms.max or 0) < row.duration_ms / 3, row
    assert row.writer_stall_ms.samples > 0  # probes ran while it did
    assert max((end - start) * 1000 for start, end in seen) < row.duration_ms / 3  # and the application agrees


def test_budget_exceeded_exits_1_with_the_documented_json(tmp_path: Path, pg_url: str) -> None:
    project_dir = _filled_project(tmp_path, pg_url, NAIVE_INDEX, rows=100_000)
    result = run_safemigrate("rehearse", "--from-url", pg_url, "--max-writer-stall", "1ms", "--format", "json",
                             cwd=project_dir)
    assert result.returncode == 1, (result.stdout, result.stderr)
    data = json.loads(result.stdout)
    assert data["kind"] == "rehearsal" and data["ok"] is False
    [row] = data["statements"]
    assert set(row) >= {"revision", "sql", "locks", "duration_ms", "writer_stall_ms", "reader_stall_ms", "rewrite"}
    assert row["revision"] == "0002" and row["verdict"] == "over budget"
    assert row["locks"] == [{"relation": "users", "mode": "SHARE"}]
    assert row["writer_stall_ms"]["max"] > 1 and row["writer_stall_ms"]["table"] == "users"
    assert row["wal_bytes"] > 50_000 * 16  # the index build writes its pages to the WAL


def test_markdown_puts_the_verdict_and_warnings_first(tmp_path: Path, pg_url: str) -> None:
    project_dir = _filled_project(tmp_path, pg_url, 'op.alter_column("users", "id", type_=sa.BigInteger)',
                                  rows=20_000)
    result = run_safemigrate("rehearse", "--template", "--max-writer-stall", "1ms", "--format", "markdown",
                             cwd=project_dir, env={"DATABASE_URL": pg_url})
    assert result.returncode == 1, result.stderr
    out = result.stdout
    assert out.startswith("### safemigrate rehearse: ❌ over budget")
    assert out.index("#### Warnings") < out.index("#### Statements") < out.index("<details>")
    assert "rewrote users: every row was written again" in out
    assert "| `0002` | `ALTER TABLE users ALTER COLUMN id TYPE BIGINT` | ACCESS EXCLUSIVE users |" in out


def test_budgets_from_pyproject(tmp_path: Path, pg_url: str) -> None:
    project_dir = _filled_project(tmp_path, pg_url, NAIVE_INDEX, rows=20_000)
    pyproject = project_dir / "pyproject.toml"
    pyproject.write_text(pyproject.read_text() + '\n[tool.safemigrate.rehearsal]\nmax_duration = "0.001ms"\n')
    result = run_safemigrate("rehearse", "--from-url", pg_url, cwd=project_dir)
    assert result.returncode == 1, result.stderr
    assert "over budget" in result.stdout and "budget 0 ms" in result.stdout
    pyproject.write_text(pyproject.read_text().replace('max_duration = "0.001ms"', "max_stall = 5"))
    result = run_safemigrate("rehearse", "--from-url", pg_url, cwd=project_dir)
    assert result.returncode == 2
    assert "Unknown key(s) in [tool.safemigrate.rehearsal]: max_stall" in result.stderr


def test_the_live_database_is_refused(tmp_path: Path, pg_url: str) -> None:
    project_dir = make_project(tmp_path / "app", NAIVE_INDEX)
    live = make_url(pg_url).set(password="s3cret-pw").render_as_string(hide_password=False)
    same = make_url(live).set(drivername="postgresql+psycopg2").render_as_string(hide_password=False)
    result = run_safemigrate("rehearse", "--from-url", same, cwd=project_dir, env={"DATABASE_URL": live})
    assert result.returncode == 2
    assert "is the project's live database" in result.stderr
    assert "Pass the URL of a staging database or a clone" in result.stderr
    assert "s3cret-pw" not in result.stderr + result.stdout
    assert scalar(pg_url, "SELECT count(*) FROM pg_tables WHERE tablename = 'users'") == 0  # nothing ran


def test_the_live_database_under_another_host_name_is_refused(tmp_path: Path, pg_url: str) -> None:
    project_dir = make_project(tmp_path / "app", NAIVE_INDEX)
    alias = make_url(pg_url).set(host="localhost").render_as_string(hide_password=False)
    assert make_url(pg_url).host != "localhost"
    result = run_safemigrate("rehearse", "--from-url", alias, cwd=project_dir, env={"DATABASE_URL": pg_url})
    assert result.returncode == 2, result.stderr
    assert "is the project's live database" in result.stderr


def test_mysql_template_is_refused_as_postgresql_only(tmp_path: Path) -> None:
    project_dir = make_project(tmp_path / "app", NAIVE_INDEX)
    result = run_safemigrate("rehearse", "--template", cwd=project_dir,
                             env={"DATABASE_URL": "mysql+pymysql://root:hunter2pw@127.0.0.1:3306/shop"})
    assert result.returncode == 2
    assert "--template makes PostgreSQL copies only" in result.stderr and "--backup latest" in result.stderr
    assert "hunter2pw" not in result.stderr + result.stdout


@pytest.mark.parametrize("args, message", [
    (("--rows", "lots"), "--rows 'lots' is not a number of rows."),
    (("--rows", "=5"), "--rows '=5' is not a number of rows."),
    (("--template", "--rows", "10"), "--template and --rows were both given."),
    ((), "none was given."),
    (("--from-url", "postgresql://x@127.0.0.1/x", "--max-writer-stall", "soon"),
     "--max-writer-stall = 'soon' is not a duration."),
    (("--from-url", "postgresql://x@127.0.0.1/x", "--blocker", "long"), "--blocker 'long' is not a duration."),
])
def test_bad_arguments_exit_2(tmp_path: Path, args: tuple[str, ...], message: str) -> None:
    project_dir = make_project(tmp_path / "app", NAIVE_INDEX)
    result = run_safemigrate("rehearse", *args, cwd=project_dir)
    assert result.returncode == 2, result.stderr
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_sqlite_is_refused_with_exit_2(tmp_path: Path) -> None:
    project_dir = make_project(tmp_path / "app", NAIVE_INDEX)
    result = run_safemigrate("rehearse", "--template", cwd=project_dir,
                             env={"DATABASE_URL": f"sqlite:///{tmp_path / 'live.db'}"})
    assert result.returncode == 2
    assert "Rehearsals measure PostgreSQL" in result.stderr and "SQLite" in result.stderr
    assert "Traceback" not in result.stderr


def test_template_copy_is_dropped(tmp_path: Path, pg_url: str, copy_names: list[str]) -> None:
    project_dir = _filled_project(tmp_path, pg_url, NAIVE_INDEX, rows=20_000)
    os.environ["DATABASE_URL"] = pg_url  # removed by the autouse fixture
    report = Project.from_pyproject(project_dir).rehearse(source=CopySource(template=True))
    assert report.copy.dropped and report.revisions == ["0002"]
    assert [r.sql for r in report.statements] == ["CREATE INDEX ix_users_name ON users (name)"]
    assert copy_names and not set(copy_names) & _databases()
    # the live database is untouched
    assert scalar(pg_url, "SELECT version_num FROM alembic_version") == "0001"


def test_copy_is_dropped_after_a_failing_revision(tmp_path: Path, pg_url: str, copy_names: list[str]) -> None:
    project_dir = _filled_project(tmp_path, pg_url, 'op.execute("SELECT 1/0")', rows=1_000)
    os.environ["DATABASE_URL"] = pg_url
    with pytest.raises(MigrationFailed, match="division by zero"):
        Project.from_pyproject(project_dir).rehearse(source=CopySource(template=True))
    assert copy_names and not set(copy_names) & _databases()


def test_synthetic_copy_is_filled_and_dropped(tmp_path: Path, pg_server: str, copy_names: list[str]) -> None:
    project_dir = make_project(tmp_path / "app", NAIVE_INDEX)
    report = Project.from_pyproject(project_dir, scratch_url=pg_server).rehearse(
        source=CopySource(rows=5_000))
    assert [(f.table, f.rows) for f in report.fill] == [("users", 5_000 - 3)]  # revision 0001 inserted 3
    assert [r.sql for r in report.statements] == ["CREATE INDEX ix_users_name ON users (name)"]
    assert copy_names and not set(copy_names) & _databases()


def test_template_refused_while_the_database_is_in_use(tmp_path: Path, pg_url: str) -> None:
    project_dir = _filled_project(tmp_path, pg_url, NAIVE_INDEX, rows=1_000)
    engine = create_engine(pg_url, poolclass=pool.NullPool)
    try:
        with engine.connect():
            result = run_safemigrate("rehearse", "--template", cwd=project_dir, env={"DATABASE_URL": pg_url})
    finally:
        engine.dispose()
    assert result.returncode == 3
    assert "other sessions are connected to it" in result.stderr
    assert "--from-url" in result.stderr


def test_sigterm_drops_the_copy(tmp_path: Path, pg_url: str) -> None:
    project_dir = _filled_project(tmp_path, pg_url, 'op.execute("SELECT pg_sleep(60)")', rows=1_000)
    before = _databases()
    full_env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "SAFEMIGRATE_DATABASE_URL"}}
    process = subprocess.Popen([str(Path(sys.executable).with_name("safemigrate")), "rehearse", "--template"],
                               cwd=project_dir, env={**full_env, "DATABASE_URL": pg_url},
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    ours: set[str] = set()
    while not ours:  # the copy exists and the revision sleeps in it
        assert time.monotonic() < deadline and process.poll() is None, process.communicate()
        ours = {name for name in _databases() - before
                if scalar(POSTGRES_URL, "SELECT count(*) FROM pg_stat_activity WHERE datname = "
                          f"'{name}' AND query LIKE '%pg_sleep%'")}
        time.sleep(0.1)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 128 + signal.SIGTERM, stderr
    assert not ours & _databases()


SCHEMA = """
CREATE TYPE mood AS ENUM ('happy', 'sad');
CREATE TABLE regions (id serial PRIMARY KEY, name varchar(12) NOT NULL UNIQUE);
CREATE TABLE customers (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                        region_id int NOT NULL REFERENCES regions, email text NOT NULL UNIQUE, mood mood NOT NULL,
                        status varchar(10) NOT NULL CHECK (status IN ('new', 'vip')), score numeric(5, 2),
                        token uuid NOT NULL UNIQUE, born date, created_at timestamptz NOT NULL DEFAULT now(),
                        referrer_id bigint REFERENCES customers);
CREATE TABLE orders (id serial PRIMARY KEY, customer_id bigint NOT NULL REFERENCES customers UNIQUE,
                     total int NOT NULL CHECK (total > 0), body jsonb);
INSERT INTO regions (id, name) VALUES (1, 'north');
"""


def test_synthetic_fill_honours_the_schema(pg_url: str) -> None:
    from safemigrate.rehearsal.synthetic import fill, plan_rows, user_tables

    execute(pg_url, SCHEMA)
    engine = create_engine(pg_url, poolclass=pool.NullPool)
    try:
        with engine.connect() as conn:
            tables = user_tables(conn, set())
            filled = fill(conn, plan_rows(tables, 300, {"regions": 50}))
    finally:
        engine.dispose()
    assert [(f.table, f.rows) for f in filled] == [("regions", 49), ("customers", 300), ("orders", 300)]
    orphans = ("SELECT count(*) FROM customers c LEFT JOIN regions r ON r.id = c.region_id WHERE r.id IS NULL",
               "SELECT count(*) FROM orders o LEFT JOIN customers c ON c.id = o.customer_id WHERE c.id IS NULL")
    assert [scalar(pg_url, q) for q in orphans] == [0, 0]
    assert scalar(pg_url, "SELECT count(DISTINCT region_id) FROM customers") == 50  # every parent key drawn
    assert scalar(pg_url, "SELECT count(DISTINCT mood) FROM customers") == 2
    assert scalar(pg_url, "SELECT count(*) FROM customers WHERE referrer_id IS NOT NULL") == 0  # a self reference
    # the sequences are past the generated keys: the application's next insert works
    execute(pg_url, "INSERT INTO regions (name) VALUES ('later')")
