"""kill -9 at random moments of `backup create` and `backup restore` (issue #10 §4, "Done when").

After each kill the database and the backup folder are read: the live database is unchanged by a killed
backup; every backup that has a manifest verifies (a dump without one is never "latest"); no credentials
file is left anywhere in the temp folder; a killed restore over a PostgreSQL database leaves it either as it
was or fully restored, never empty or partial.
"""

from __future__ import annotations

import json
import os
import random
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from helpers import execute
from sqlalchemy import create_engine, inspect, pool, text
from sqlalchemy.engine import make_url

KILLS = 20
PASSWORD = "Kp-" + secrets.token_hex(8)


def _fingerprint(url: str) -> tuple:
    engine = create_engine(url, poolclass=pool.NullPool)
    try:
        tables = sorted(inspect(engine).get_table_names())
        with engine.connect() as conn:
            q = "`" if url.startswith("mysql") else '"'
            return tuple((t, conn.execute(text(f"SELECT count(*) FROM {q}{t}{q}")).scalar()) for t in tables)
    finally:
        engine.dispose()


def _safemigrate(*args: str) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "APP_ENV"}}
    env["APP_ENV"] = "development"
    return subprocess.Popen([str(Path(sys.executable).with_name("safemigrate")), *args], env=env,
                            start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _kill_after(process: subprocess.Popen[str], delay: float) -> bool:
    """SIGKILL the command and its children after ``delay`` seconds; False when it had already finished."""
    deadline = time.monotonic() + delay
    while time.monotonic() < deadline:
        if process.poll() is not None:
            process.communicate()
            return False
        time.sleep(0.01)
    os.killpg(process.pid, signal.SIGKILL)
    process.communicate(timeout=60)
    return True


def _password_files() -> list[str]:
    """Files in the temp folder (pytest's own left out) that hold the test password."""
    found = subprocess.run(["grep", "-rlsF", "--exclude-dir=pytest-of-*", "--", PASSWORD, tempfile.gettempdir()],
                           capture_output=True, text=True)
    return found.stdout.split()


def _with_user(url: str) -> str:
    """``url`` as a new user with a password (MariaDB: the password goes to the tools in an option file)."""
    user = f"kill_{secrets.token_hex(4)}"
    execute(url, *[s for host in ("%", "localhost", "127.0.0.1") for s in
                   (f"CREATE USER '{user}'@'{host}' IDENTIFIED BY '{PASSWORD}'",
                    f"GRANT ALL ON *.* TO '{user}'@'{host}'")])
    return make_url(url).set(username=user, password=PASSWORD).render_as_string(hide_password=False)


@pytest.fixture(params=["postgresql", "mysql"])
def live(request, backup_shop, tmp_path):
    url = request.getfixturevalue("pg_url" if request.param == "postgresql" else "mysql_url")
    project = backup_shop(url, url=str(tmp_path / "backups"))
    execute(url, "INSERT INTO products (sku, name, price) SELECT CONCAT('K-', id), name, price FROM products"
            if request.param == "mysql" else
            "INSERT INTO products (sku, name, price) SELECT 'K-' || id, name, price FROM products")
    user_url = _with_user(url) if request.param == "mysql" else url
    yield project, user_url, tmp_path / "backups"
    if request.param == "mysql":
        user = make_url(user_url).username
        execute(url, *[f"DROP USER IF EXISTS '{user}'@'{host}'" for host in ("%", "localhost", "127.0.0.1")])


@pytest.mark.slow
def test_kill_backup_create_at_random_moments(live):
    project, url, dest = live
    before = _fingerprint(url)
    rng = random.Random(url.split("/")[-1])
    started = time.monotonic()  # one whole run first: the kills are spread over its duration
    whole = _safemigrate("backup", "create", "--project", str(project), "--database-url", url, "--quiet")
    assert whole.wait(timeout=300) == 0, whole.communicate()[0]
    whole.communicate()
    duration = time.monotonic() - started
    outcomes = {"killed": 0, "finished": 0}
    for _ in range(KILLS):
        process = _safemigrate("backup", "create", "--project", str(project), "--database-url", url, "--quiet")
        outcomes["killed" if _kill_after(process, rng.uniform(0.0, duration)) else "finished"] += 1
        assert _fingerprint(url) == before  # a backup never changes the database
        assert _password_files() == []  # no credentials file, whenever the kill came
    assert outcomes["killed"] >= KILLS // 2, outcomes  # the kills did land while the backup ran
    for manifest in dest.glob("*.manifest.json"):  # every backup that claims to be complete is
        backup_id = json.loads(manifest.read_text())["id"]
        verify = subprocess.run([str(Path(sys.executable).with_name("safemigrate")), "backup", "verify", backup_id,
                                 "--project", str(project), "--database-url", url],
                                capture_output=True, text=True, timeout=300)
        assert verify.returncode == 0, verify.stdout + verify.stderr


#: The table that makes a restore last long enough to be killed half-way, by server.
_BULK = {
    "postgresql": ["CREATE TABLE bulk AS SELECT g AS id, md5(g::text) AS v FROM generate_series(1, 150000) g"],
    "mysql": ["CREATE TABLE bulk (id INT PRIMARY KEY, v VARCHAR(40))",
              "INSERT INTO bulk SELECT seq, MD5(seq) FROM seq_1_to_150000"],
}


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["postgresql", "mysql"])
def test_kill_restore_at_random_moments(backup_shop, tmp_path, request, backend):
    """PostgreSQL restores in one transaction; MySQL/MariaDB loads a throwaway database and swaps it in with one
    RENAME TABLE: either way all or nothing, wherever the kill lands."""
    from safemigrate import Project
    from safemigrate.backup import create as create_backup

    url = request.getfixturevalue("pg_url" if backend == "postgresql" else "mysql_url")
    project = backup_shop(url, url=str(tmp_path / "backups"))
    execute(url, *_BULK[backend])
    made = create_backup(Project.from_pyproject(project, database_url=url), environment="development")
    restored = _fingerprint(url)
    execute(url, "INSERT INTO customers (email, full_name) VALUES ('after@example.com', 'after the backup')",
            "DELETE FROM bulk WHERE id % 2 = 0")
    rng = random.Random(url)
    restore = ("backup", "restore", made.id, "--project", str(project), "--database-url", url, "--replace", "--quiet")
    started = time.monotonic()  # one whole restore first: the kills are spread over its duration
    whole = _safemigrate(*restore)
    assert whole.wait(timeout=300) == 0, whole.communicate()[0]
    whole.communicate()
    duration = time.monotonic() - started
    assert _fingerprint(url) == restored
    execute(url, "DELETE FROM bulk WHERE id % 2 = 0")
    outcomes = {"as it was": 0, "restored": 0}
    for _ in range(KILLS):
        before = _fingerprint(url)
        _kill_after(_safemigrate(*restore), rng.uniform(0.0, duration))
        if backend == "postgresql":
            time.sleep(0.3)  # the server notices the dead client and rolls its transaction back
        after = _wait_settled(url) if backend == "postgresql" else _mysql_settled(url)
        assert after in (before, restored), f"partial target after a kill: {after}"
        outcomes["restored" if after == restored else "as it was"] += 1
        if after == restored:  # damage it again, so that the next kill can be told apart
            execute(url, "INSERT INTO customers (email, full_name) VALUES "
                         f"('after{secrets.token_hex(3)}@example.com', 'after')",
                    "DELETE FROM bulk WHERE id % 2 = 0")
    assert outcomes["as it was"] >= 1, outcomes


def _mysql_settled(url: str) -> tuple:
    """The target's tables once no session of the killed restore still runs a statement on the server."""
    engine = create_engine(url, poolclass=pool.NullPool)
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            with engine.connect() as conn:
                busy = conn.execute(text("SELECT COUNT(*) FROM information_schema.processlist WHERE id <> "
                                         "CONNECTION_ID() AND command NOT IN ('Sleep', 'Daemon') AND user = "
                                         "SUBSTRING_INDEX(CURRENT_USER(), '@', 1)")).scalar()
            if not busy:
                break
            time.sleep(0.1)
    finally:
        engine.dispose()
    return _fingerprint(url)


def _wait_settled(url: str) -> tuple:
    admin = url.rsplit("/", 1)[0] + "/postgres"
    database = url.rsplit("/", 1)[1]
    engine = create_engine(admin, poolclass=pool.NullPool)
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            with engine.connect() as conn:
                busy = conn.execute(text("SELECT count(*) FROM pg_stat_activity WHERE datname = :d AND "
                                         "pid <> pg_backend_pid()"), {"d": database}).scalar()
            if not busy:
                break
            time.sleep(0.1)
    finally:
        engine.dispose()
    return _fingerprint(url)
