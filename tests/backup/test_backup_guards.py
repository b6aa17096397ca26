"""Restore and prune are as guarded as migrate (issue #10 §4): wrong commands against real files and servers.

Afterwards the databases are read, never only the message: a refused restore leaves every row in place.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import seed_shop
from helpers import execute, scalar, upgrade
from sqlalchemy import create_engine, pool

from safemigrate import Project
from safemigrate.backup import create as create_backup
from safemigrate.backup import prune
from safemigrate.cli.backup import backup


def run(*args: str, env: dict[str, str] | None = None):
    return CliRunner().invoke(backup, list(args), env={"COLUMNS": "1000", **(env or {})}, catch_exceptions=False)


def _two_databases(backup_shop, tmp_path: Path) -> tuple[Path, str, str, Path]:
    """prod.db (40 customers) and dev.db (the shop with 1 customer), one backup folder, dev's backup newest."""
    dest = tmp_path / "backups"
    prod, dev = f"sqlite:///{tmp_path / 'prod.db'}", f"sqlite:///{tmp_path / 'dev.db'}"
    project = backup_shop(prod, url=str(dest))
    create_backup(Project.from_pyproject(project, database_url=prod), environment="production")
    upgrade(project, dev)
    seed_shop(dev)
    execute(dev, "DELETE FROM order_items", "DELETE FROM orders", "DELETE FROM addresses",
            "DELETE FROM customers WHERE id > 1")
    create_backup(Project.from_pyproject(project, database_url=dev), environment="development")
    return project, prod, dev, dest


def test_latest_is_the_target_databases_newest(backup_shop, tmp_path):
    project, prod, dev, dest = _two_databases(backup_shop, tmp_path)
    execute(prod, "DELETE FROM order_items", "DELETE FROM customers WHERE id > 30")  # damage after the backup
    restored = run("restore", "latest", "--project", str(project), "--database-url", prod, "--replace",
                   "--allow-production-restore", "--yes", "--format", "json", env={"APP_ENV": "production"})
    assert restored.exit_code == 0, restored.output
    assert json.loads(restored.stdout)["id"].startswith("prod")  # not dev's newer backup
    assert scalar(prod, "SELECT count(*) FROM customers") == 40

    verified = run("verify", "latest", "--project", str(project), "--database-url", dev, "--format", "json")
    assert verified.exit_code == 0 and json.loads(verified.stdout)["id"].startswith("dev")


@pytest.mark.slow
def test_latest_with_only_other_databases_backups_names_them(backup_shop, tmp_path):
    project, prod, _, dest = _two_databases(backup_shop, tmp_path)
    other = f"sqlite:///{tmp_path / 'other.db'}"
    upgrade(project, other)
    refused = run("restore", "latest", "--project", str(project), "--database-url", other, "--replace")
    assert refused.exit_code != 0
    assert "no backup of database other" in refused.stderr and "prod (sqlite, production)" in refused.stderr
    assert scalar(other, "SELECT count(*) FROM customers") == 0


def test_another_databases_backup_over_this_one_needs_from_other_database(backup_shop, tmp_path):
    project, prod, dev, dest = _two_databases(backup_shop, tmp_path)
    listed = json.loads(run("list", "--project", str(project), "--database-url", prod, "--format", "json").stdout)
    dev_backup = next(b["id"] for b in listed["backups"] if b["database_name"] == "dev")
    refused = run("restore", dev_backup, "--project", str(project), "--database-url", prod, "--replace",
                  env={"APP_ENV": "development"})
    assert refused.exit_code == 2, refused.output
    assert "is a backup of database" in refused.stderr and "--from-other-database" in refused.stderr
    assert scalar(prod, "SELECT count(*) FROM customers") == 40  # untouched

    allowed = run("restore", dev_backup, "--project", str(project), "--database-url", prod, "--replace",
                  "--from-other-database", env={"APP_ENV": "development"})
    assert allowed.exit_code == 0, allowed.output
    assert scalar(prod, "SELECT count(*) FROM customers") == 1

    # into a new, empty database any backup may go: nothing is overwritten
    fresh = f"sqlite:///{tmp_path / 'copy.db'}"
    copied = run("restore", dev_backup, "--project", str(project), "--database-url", prod, "--to", fresh)
    assert copied.exit_code == 0, copied.output


def test_a_development_backup_over_production_with_the_same_name_is_another_database(backup_shop, tmp_path):
    dest = tmp_path / "backups"
    live = f"sqlite:///{tmp_path / 'shop.db'}"
    project = backup_shop(live, url=str(dest))
    made = create_backup(Project.from_pyproject(project, database_url=live), environment="development")
    refused = run("restore", made.id, "--project", str(project), "--database-url", live, "--replace",
                  "--allow-production-restore", "--yes", env={"APP_ENV": "production"})
    assert refused.exit_code == 2, refused.output
    assert "environment development" in refused.stderr
    assert scalar(live, "SELECT count(*) FROM customers") == 40


def test_production_restore_needs_the_flag_a_confirmation_and_takes_a_safety_backup(backup_shop, tmp_path):
    dest = tmp_path / "backups"
    live = f"sqlite:///{tmp_path / 'shop.db'}"
    project = backup_shop(live, url=str(dest))
    made = create_backup(Project.from_pyproject(project, database_url=live), environment="production")
    execute(live, "INSERT INTO customers (id, email, full_name) VALUES (999, 'late@example.com', 'late')")
    production = {"APP_ENV": "production"}
    base = ["restore", made.id, "--project", str(project), "--database-url", live, "--replace"]

    no_flag = run(*base, env=production)
    assert no_flag.exit_code == 2 and "--allow-production-restore" in no_flag.stderr
    not_confirmed = run(*base, "--allow-production-restore", env=production)  # no terminal, no --yes
    assert not_confirmed.exit_code == 2 and "not confirmed" in not_confirmed.stderr
    assert scalar(live, "SELECT count(*) FROM customers WHERE id = 999") == 1
    assert len(list(dest.glob("*.manifest.json"))) == 1  # no safety backup for a refused restore

    done = run(*base, "--allow-production-restore", "--yes", env=production)
    assert done.exit_code == 0, done.output
    assert "Safety backup" in done.stdout
    assert scalar(live, "SELECT count(*) FROM customers WHERE id = 999") == 0
    manifests = [json.loads(p.read_text()) for p in dest.glob("*.manifest.json")]
    assert len(manifests) == 2
    safety = next(m for m in manifests if m["id"] != made.id)
    assert safety["environment"] == "production"
    # the safety backup holds the row the restore replaced
    rescued = f"sqlite:///{tmp_path / 'rescued.db'}"
    back = run("restore", safety["id"], "--project", str(project), "--database-url", live, "--to", rescued)
    assert back.exit_code == 0, back.output
    assert scalar(rescued, "SELECT count(*) FROM customers WHERE id = 999") == 1


def _future(dest: Path, backup_id: str) -> None:
    path = dest / f"{backup_id}.manifest.json"
    manifest = json.loads(path.read_text())
    manifest["finished_at"] = "2099-01-01T00:00:00+00:00"
    path.write_text(json.dumps(manifest))


def test_a_manifest_from_the_future_is_not_latest_and_prune_keeps_the_newest(backup_shop, tmp_path):
    dest = tmp_path / "backups"
    live = f"sqlite:///{tmp_path / 'shop.db'}"
    project = backup_shop(live, url=str(dest))
    ws = Project.from_pyproject(project, database_url=live)
    older = create_backup(ws, environment="production")
    newest = create_backup(ws, environment="production")
    _future(dest, older.id)
    verified = run("verify", "latest", "--project", str(project), "--database-url", live, "--format", "json")
    assert json.loads(verified.stdout)["id"] == newest.id

    # keep=1: the newest real backup stays, the forged "future" one goes
    kept = prune(ws, keep=1)
    assert kept.deleted == [older.id] and kept.kept == [newest.id]
    # --older-than alone never deletes the newest backup of a database, however old
    from datetime import UTC, datetime, timedelta

    from safemigrate.backup.catalog import prune as prune_storage
    from safemigrate.backup.storage import Storage

    later = prune_storage(Storage(str(dest)), older_than_days=1, now=datetime.now(UTC) + timedelta(days=30))
    assert later.deleted == [] and later.kept == [newest.id]
    assert (dest / f"{newest.id}.manifest.json").exists()


# -- a failed or killed restore leaves the target as it was (PostgreSQL: one transaction) -------------
def _fingerprint(url: str) -> tuple:
    from sqlalchemy import create_engine, inspect, pool

    engine = create_engine(url, poolclass=pool.NullPool)
    try:
        tables = sorted(inspect(engine).get_table_names())
        with engine.connect() as conn:
            from sqlalchemy import text

            q = "`" if url.startswith("mysql") else '"'
            return tuple((t, conn.execute(text(f"SELECT count(*) FROM {q}{t}{q}")).scalar()) for t in tables)
    finally:
        engine.dispose()


def test_a_restore_that_fails_leaves_the_postgres_target_as_it_was(backup_shop, pg_url, tmp_path):
    import secrets

    dest = tmp_path / "backups"
    project = backup_shop(pg_url, url=str(dest))
    role = f"owner_{secrets.token_hex(4)}"
    execute(pg_url, f'CREATE ROLE "{role}"', f'ALTER TABLE products OWNER TO "{role}"')
    made = create_backup(Project.from_pyproject(project, database_url=pg_url), environment="development")
    # the role goes away (another server, or dropped since): restoring ownership must fail
    execute(pg_url, f'REASSIGN OWNED BY "{role}" TO CURRENT_USER', f'DROP OWNED BY "{role}"', f'DROP ROLE "{role}"')
    execute(pg_url, "INSERT INTO customers (email, full_name) VALUES ('after@example.com', 'after the backup')")
    before = _fingerprint(pg_url)

    failed = run("restore", made.id, "--project", str(project), "--database-url", pg_url, "--replace",
                 env={"APP_ENV": "development"})
    assert failed.exit_code == 3, failed.output
    assert role in failed.stderr and "exactly as it was" in failed.stderr
    assert _fingerprint(pg_url) == before  # every table, every row: nothing was dropped

    done = run("restore", made.id, "--project", str(project), "--database-url", pg_url, "--replace", "--no-owner",
               env={"APP_ENV": "development"})
    assert done.exit_code == 0, done.output
    assert scalar(pg_url, "SELECT count(*) FROM customers WHERE email = 'after@example.com'") == 0


def test_a_restore_killed_midway_leaves_the_postgres_target_as_it_was(backup_shop, pg_url, tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time

    dest = tmp_path / "backups"
    project = backup_shop(pg_url, url=str(dest))
    execute(pg_url, "CREATE TABLE bulk AS SELECT g AS id, md5(g::text) AS v FROM generate_series(1, 400000) g")
    made = create_backup(Project.from_pyproject(project, database_url=pg_url), environment="development")
    execute(pg_url, "INSERT INTO customers (email, full_name) VALUES ('after@example.com', 'after the backup')")
    before = _fingerprint(pg_url)

    exe = Path(sys.executable).with_name("safemigrate")
    env = {**os.environ, "APP_ENV": "development"}
    process = subprocess.Popen([str(exe), "backup", "restore", made.id, "--project", str(project), "--database-url",
                                pg_url, "--replace", "--quiet"], env=env, start_new_session=True,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    database = pg_url.rsplit("/", 1)[1]
    deadline = time.monotonic() + 120
    while True:  # the restore's transaction has dropped the schema and is loading the tables
        assert process.poll() is None, process.communicate()[0]
        assert time.monotonic() < deadline, "the restore never reached the copy"
        copying = scalar(pg_url.rsplit("/", 1)[0] + "/postgres",
                         "SELECT count(*) FROM pg_stat_activity WHERE datname = '" + database + "' "
                         "AND query ILIKE 'COPY%bulk%'")
        if copying:
            break
        time.sleep(0.02)
    os.killpg(process.pid, signal.SIGKILL)
    process.communicate(timeout=60)
    deadline = time.monotonic() + 60
    while scalar(pg_url.rsplit("/", 1)[0] + "/postgres",
                 f"SELECT count(*) FROM pg_stat_activity WHERE datname = '{database}' AND pid <> pg_backend_pid() "
                 "AND state <> 'idle'") and time.monotonic() < deadline:
        time.sleep(0.1)  # the server notices the dead client and rolls back
    assert _fingerprint(pg_url) == before


def test_a_mariadb_dump_that_does_not_restore_never_empties_the_target(backup_shop, mysql_url, tmp_path):
    """MySQL commits each DDL statement, so the restore is rehearsed in a throwaway database first."""
    import gzip
    import hashlib

    dest = tmp_path / "backups"
    project = backup_shop(mysql_url, url=str(dest))
    made = create_backup(Project.from_pyproject(project, database_url=mysql_url), environment="development")
    # a dump that reads back as written (its manifest agrees) but fails half-way through a restore
    dump = next(dest.glob("*.sql.gz"))
    text = gzip.decompress(dump.read_bytes()).decode()
    cut = text.index("INSERT INTO `orders`")
    broken = gzip.compress((text[:cut] + "THIS IS NOT SQL;\n" + text[cut:]).encode())
    dump.write_bytes(broken)
    manifest_path = dest / f"{made.id}.manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest.update(size=len(broken), sha256=hashlib.sha256(broken).hexdigest())
    manifest_path.write_text(json.dumps(manifest))
    execute(mysql_url, "INSERT INTO customers (email, full_name) VALUES ('after@example.com', 'after the backup')")
    before = _fingerprint(mysql_url)

    failed = run("restore", made.id, "--project", str(project), "--database-url", mysql_url, "--replace",
                 env={"APP_ENV": "development"})
    assert failed.exit_code == 3, failed.output
    assert "the target was not touched" in failed.stderr
    assert _fingerprint(mysql_url) == before


def test_a_mariadb_restore_swaps_the_checked_tables_in_at_once(backup_shop, mysql_url, tmp_path):
    """The throwaway database the restore is checked in becomes the target's tables with one RENAME TABLE."""
    dest = tmp_path / "backups"
    project = backup_shop(mysql_url, url=str(dest))
    made = create_backup(Project.from_pyproject(project, database_url=mysql_url), environment="development")
    restored = _fingerprint(mysql_url)
    execute(mysql_url, "INSERT INTO customers (email, full_name) VALUES ('after@example.com', 'after the backup')",
            "CREATE TABLE made_after (id INT PRIMARY KEY)")
    database = mysql_url.rsplit("/", 1)[1]
    throwaways_before = _throwaway_databases(mysql_url)

    done = run("restore", made.id, "--project", str(project), "--database-url", mysql_url, "--replace",
               env={"APP_ENV": "development"})
    assert done.exit_code == 0, done.output
    assert "swapped in with one RENAME TABLE" in " ".join(done.output.split())
    assert _fingerprint(mysql_url) == restored  # made_after is gone, the row added after the backup too
    # the foreign keys moved with their tables: they point into the target, and they still hold
    references = "SELECT COUNT(*) FROM information_schema.key_column_usage WHERE table_schema = " \
        f"'{database}' AND referenced_table_name IS NOT NULL"
    assert scalar(mysql_url, references) >= 3
    assert scalar(mysql_url, references + f" AND referenced_table_schema <> '{database}'") == 0
    with pytest.raises(Exception, match="foreign key constraint fails"):
        execute(mysql_url, "INSERT INTO orders (customer_id) VALUES (999999)")
    # the staging and the old tables are dropped; other tests' throwaway databases on this server come and go
    deadline = time.monotonic() + 180
    left = _throwaway_databases(mysql_url) - throwaways_before
    while left and time.monotonic() < deadline:
        time.sleep(1)
        left = _throwaway_databases(mysql_url) - throwaways_before
    assert not left


def _throwaway_databases(url: str) -> set[str]:
    from safemigrate.harness.scratch import PREFIX

    engine = create_engine(url, poolclass=pool.NullPool)
    try:
        with engine.connect() as conn:
            return {row[0] for row in conn.exec_driver_sql("SHOW DATABASES") if row[0].startswith(PREFIX)}
    finally:
        engine.dispose()
