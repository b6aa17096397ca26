"""Backups on real servers: create, verify, list, restore into a new database, prune; local storage and S3."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import create_engine, pool
from sqlalchemy.engine import make_url

from safemigrate import Project
from safemigrate.backup import backup_required, prune, take_verified_backup
from safemigrate.backup import create as create_backup
from safemigrate.backup.stats import table_stats
from safemigrate.cli.backup import backup
from safemigrate.core.errors import BackupConfigError
from safemigrate.core.urls import backend_of


def run(*args: str):
    return CliRunner().invoke(backup, list(args), env={"COLUMNS": "1000"}, catch_exceptions=False)


def stats_of(url: str):
    engine = create_engine(url, poolclass=pool.NullPool)
    try:
        with engine.connect() as conn:
            return table_stats(conn, backend_of(make_url(url)))
    finally:
        engine.dispose()


def sibling(url: str, name: str) -> str:
    """Another database on the same server (not created: restore creates it)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return f"sqlite:///{Path(parsed.database).with_name(name + '.db')}"
    return parsed.set(database=name).render_as_string(hide_password=False)


def drop(url: str) -> None:
    from sqlalchemy import text

    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return
    admin = parsed.set(database="postgres" if backend_of(parsed) == "postgresql" else "")
    engine = create_engine(admin, poolclass=pool.NullPool, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        if backend_of(parsed) == "postgresql":
            conn.execute(text(f'DROP DATABASE IF EXISTS "{parsed.database}" WITH (FORCE)'))
        else:
            conn.execute(text(f"DROP DATABASE IF EXISTS `{parsed.database}`"))
    engine.dispose()


def round_trip(project: Path, url: str, dest: str) -> None:
    """create --verify restore, list, verify, restore into a new database, refuse to overwrite, --replace."""
    created = run("create", "--project", str(project), "--database-url", url, "--dest", dest, "--verify", "restore",
                  "--format", "json")
    assert created.exit_code == 0, created.output
    result = json.loads(created.stdout)
    backup_id = result["id"]
    checks = {c["name"]: c for c in result["verify"]["checks"]}
    assert all(c["ok"] for c in checks.values()), checks
    assert set(checks) == {"stored size", "stored checksum", "readable", "data", "schema", "row counts"}
    source = stats_of(url)
    manifest = result["manifest"]
    assert manifest["tables"]["customers"]["rows"] == 40 == source["customers"].rows
    assert manifest["from_revision"] and manifest["to_revision"] is None and manifest["size"] > 0

    listed = run("list", "--project", str(project), "--database-url", url, "--dest", dest, "--format", "json")
    assert [b["id"] for b in json.loads(listed.stdout)["backups"]] == [backup_id]

    verified = run("verify", backup_id, "--project", str(project), "--database-url", url, "--dest", dest)
    assert verified.exit_code == 0, verified.output
    assert "✓ stored checksum" in verified.stdout

    target = sibling(url, f"restored_{backup_id[-6:]}")
    try:
        restored = run("restore", backup_id[:20], "--project", str(project), "--database-url", url, "--dest", dest,
                       "--to", target)
        assert restored.exit_code == 0, restored.output
        after = stats_of(target)
        assert {n: (t.columns, t.rows) for n, t in after.items()} == {n: (t.columns, t.rows) for n, t in source.items()}

        refused = run("restore", backup_id, "--project", str(project), "--database-url", url, "--dest", dest,
                      "--to", target)
        assert refused.exit_code == 2
        assert "is not empty: it has 9 table(s) (addresses, alembic_version" in refused.stderr
        assert "--replace" in refused.stderr

        other = run("restore", backup_id, "--project", str(project), "--database-url", url, "--dest", dest,
                    "--to", target, "--replace")
        assert other.exit_code == 2 and "--from-other-database" in other.stderr  # the copy is another database
        replaced = run("restore", backup_id, "--project", str(project), "--database-url", url, "--dest", dest,
                       "--to", target, "--replace", "--from-other-database")
        assert replaced.exit_code == 0, replaced.output
        assert "Replaced 9 table(s)" in replaced.stdout
        assert stats_of(target)["orders"].rows == source["orders"].rows
    finally:
        drop(target)


@pytest.mark.postgres
def test_postgres_round_trip_local(backup_shop, pg_url: str, tmp_path: Path) -> None:
    project = backup_shop(pg_url)
    round_trip(project, pg_url, str(tmp_path / "backups"))
    dumps = list((tmp_path / "backups").glob("*.dump"))
    assert len(dumps) == 1 and dumps[0].read_bytes()[:5] == b"PGDMP"  # pg_dump's custom format


@pytest.mark.mysql
def test_mariadb_round_trip_local(backup_shop, mysql_url: str, tmp_path: Path) -> None:
    project = backup_shop(mysql_url)
    round_trip(project, mysql_url, str(tmp_path / "backups"))
    import gzip

    dump = next((tmp_path / "backups").glob("*.sql.gz"))
    assert gzip.decompress(dump.read_bytes()).rstrip().splitlines()[-1].startswith(b"-- Dump completed")


def test_sqlite_round_trip_local(backup_shop, sqlite_url: str, tmp_path: Path) -> None:
    project = backup_shop(sqlite_url)
    round_trip(project, sqlite_url, str(tmp_path / "backups"))


@pytest.mark.postgres
def test_postgres_to_s3_with_retention(backup_shop, pg_url: str, s3) -> None:
    project = backup_shop(pg_url, url=f"{s3.url}/shop", keep=2, name="{environment}/{database}-{timestamp}")
    ids = []
    for _ in range(3):
        created = run("create", "--project", str(project), "--database-url", pg_url, "--env", "staging")
        assert created.exit_code == 0, created.output
        ids.append(created.stdout.split()[2])
    # The same second gives the same timestamp: names stay unique.
    assert len(set(ids)) == 3
    keys = s3.keys()
    assert sorted(k.rsplit("/", 1)[-1] for k in keys) == sorted(
        f"{i.split('/', 1)[1]}{suffix}" for i in ids[1:] for suffix in (".dump", ".manifest.json"))
    assert all(k.startswith("shop/staging/") for k in keys)
    assert "retention removed 1 old backup(s)" in created.stdout

    listed = run("list", "--project", str(project), "--database-url", pg_url, "--format", "json")
    backups = json.loads(listed.stdout)["backups"]
    assert [b["id"] for b in backups] == [ids[2], ids[1]]
    assert backups[0]["location"].startswith(f"{s3.url}/shop/staging/")
    verified = run("verify", "latest", "--project", str(project), "--database-url", pg_url, "--restore")
    assert verified.exit_code == 0, verified.output
    assert "row counts: not compared" in verified.stdout  # taken with checksum verification: no counts recorded
    target = sibling(pg_url, pg_url.rsplit("/", 1)[1] + "_from_s3")
    try:
        restored = run("restore", ids[2], "--project", str(project), "--database-url", pg_url, "--to", target)
        assert restored.exit_code == 0, restored.output
        assert stats_of(target)["customers"].rows == 40
    finally:
        drop(target)


def test_prune_keep_and_older_than(backup_shop, sqlite_url: str, tmp_path: Path) -> None:
    dest = tmp_path / "backups"
    project = backup_shop(sqlite_url, url=str(dest))
    made = [create_backup(Project.from_pyproject(project, database_url=sqlite_url), environment=env)
            for env in ("production", "production", "production", "staging")]
    # An interrupted dump (no manifest), two days old.
    stale = dest / "shop-production-old.sqlite.gz"
    stale.write_bytes(b"partial")
    import os

    two_days_ago = (datetime.now(UTC) - timedelta(days=2)).timestamp()
    os.utime(stale, (two_days_ago, two_days_ago))

    listed = run("list", "--project", str(project), "--database-url", sqlite_url, "--format", "json")
    entries = json.loads(listed.stdout)["backups"]
    assert [e["complete"] for e in entries] == [True] * 4 + [False]

    dry = run("prune", "--project", str(project), "--database-url", sqlite_url, "--keep", "1", "--dry-run")
    assert dry.exit_code == 0 and "would delete 2 backup(s)" in dry.stdout
    assert len(list(dest.glob("*.manifest.json"))) == 4

    pruned = prune(Project.from_pyproject(project, database_url=sqlite_url), keep=1)
    assert sorted(pruned.deleted) == sorted([made[0].id, made[1].id])  # per database and environment
    assert set(pruned.kept) == {made[2].id, made[3].id}
    assert pruned.incomplete_deleted == ["shop-production-old"] and not stale.exists()
    assert {p.name for p in dest.iterdir()} == {f"{m.id}{s}" for m in made[2:] for s in (".sqlite.gz",
                                                                                         ".manifest.json")}

    # --older-than alone: nothing is older than a day yet; then everything is, from a day ahead.
    assert prune(Project.from_pyproject(project, database_url=sqlite_url), older_than_days=1).deleted == []
    from safemigrate.backup.catalog import prune as prune_storage
    from safemigrate.backup.storage import Storage

    later = datetime.now(UTC) + timedelta(days=3)
    gone = prune_storage(Storage(str(dest)), older_than_days=1, now=later)
    assert gone.deleted == []  # each is the newest of its database and environment: never deleted
    assert sorted(gone.kept) == sorted([made[2].id, made[3].id])
    nothing = run("prune", "--project", str(project), "--database-url", sqlite_url)
    assert nothing.exit_code == 2 and "Nothing to prune by" in nothing.stderr  # no keep configured, no flags


def test_an_empty_manifest_a_kill_left_claims_nothing(backup_shop, sqlite_url: str, tmp_path: Path) -> None:
    """A kill of an older version while it wrote a manifest left an empty file: the dump is incomplete."""
    import os

    dest = tmp_path / "backups"
    project = backup_shop(sqlite_url, url=str(dest))
    made = create_backup(Project.from_pyproject(project, database_url=sqlite_url), environment="production")
    assert [p.name for p in dest.iterdir() if p.name.endswith(".partial")] == []  # written whole, then renamed
    manifest = dest / f"{made.id}.manifest.json"
    manifest.write_text("")
    listed = json.loads(run("list", "--project", str(project), "--database-url", sqlite_url,
                            "--format", "json").stdout)["backups"]
    assert [(e["id"], e["complete"]) for e in listed] == [(made.id, False)]
    restore = run("restore", made.id, "--project", str(project), "--database-url", sqlite_url)
    assert restore.exit_code == 2 and "is incomplete: its dump has no manifest" in restore.stderr
    two_days_ago = (datetime.now(UTC) - timedelta(days=2)).timestamp()
    os.utime(dest / f"{made.id}.sqlite.gz", (two_days_ago, two_days_ago))
    pruned = prune(Project.from_pyproject(project, database_url=sqlite_url), keep=1)
    assert pruned.incomplete_deleted == [made.id]
    assert list(dest.iterdir()) == []  # the dump and the empty manifest beside it


@pytest.mark.postgres
def test_take_verified_backup_for_migrate(backup_shop, pg_url: str, tmp_path: Path) -> None:
    """The function migrate calls: a verified backup (its id goes to the ledger), or an exception."""
    project_path = backup_shop(pg_url, url=str(tmp_path / "b"), verify="restore")
    project = Project.from_pyproject(project_path, database_url=pg_url)
    assert backup_required(project, "production") and not backup_required(project, "development")
    result = take_verified_backup(project, environment="production", from_rev="d5f6b1370600", to_rev="abc123")
    assert result.ok and result.verify.level == "restore"
    assert result.id.endswith("-abc123") and result.manifest.to_revision == "abc123"
    assert result.manifest.from_revision == result.id.split("-")[-2]
    assert (tmp_path / "b" / f"{result.id}.manifest.json").is_file()

    from conftest import configure_backup

    configure_backup(project_path)  # an empty table: no url
    with pytest.raises(BackupConfigError) as caught:
        take_verified_backup(Project.from_pyproject(project_path, database_url=pg_url), environment="production",
                             from_rev=None, to_rev="abc123")
    assert caught.value.exit_code == 2
    assert "no backup destination is configured" in caught.value.what
    assert "required_in" in caught.value.fix
