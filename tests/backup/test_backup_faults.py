"""Backup faults: each ends with one clear message, a non-zero exit, and no dump that looks complete."""

from __future__ import annotations

import os
import stat
import threading
from pathlib import Path

import fsspec
import pytest
from click.testing import CliRunner
from fsspec.implementations.memory import MemoryFile, MemoryFileSystem
from helpers import execute
from sqlalchemy import create_engine, pool, text

from safemigrate import Project
from safemigrate.backup import create as create_backup
from safemigrate.backup.tools import pg_tool
from safemigrate.cli.backup import backup
from safemigrate.core.errors import DumpFailed, StorageError


def run(*args: str):
    return CliRunner().invoke(backup, list(args), env={"COLUMNS": "1000"}, catch_exceptions=False)


def files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


def fake_tool(folder: Path, name: str, version: str, body: str = "exit 0") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(f'#!/bin/sh\nif [ "$1" = "--version" ]; then echo "{name} (PostgreSQL) {version}"; exit 0; fi\n'
                    f"{body}\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return path


# -- fsspec stores that fail the way real ones do -------------------------------------------------
class _BreakingFile(MemoryFile):
    def write(self, data):  # type: ignore[override]
        fs = self.fs
        if self.tell() + len(data) > fs.fail_after:
            if fs.vanish:
                type(fs).gone = True
            raise ConnectionResetError(104, "Connection reset by peer")
        return super().write(data)


class VanishingFileSystem(MemoryFileSystem):
    """Accepts ``fail_after`` bytes of a dump, then the connection breaks (and with ``vanish``, stays down)."""

    protocol = "vanishing"
    store: dict = {}
    pseudo_dirs = [""]
    fail_after = 300_000
    vanish = False
    gone = False

    @classmethod
    def _strip_protocol(cls, path):
        path = str(path)
        if path.startswith(f"{cls.protocol}://"):
            path = path[len(cls.protocol) + 3:]
        return super()._strip_protocol(path)

    def _open(self, path, mode="rb", **kwargs):
        self._check()
        if "w" in mode and not path.endswith(".json"):
            path = self._strip_protocol(path)
            handle = _BreakingFile(self, path)
            handle.commit()
            return handle
        return super()._open(path, mode, **kwargs)

    def _check(self):
        if self.gone:
            raise ConnectionRefusedError(111, "Connection refused")

    def exists(self, path, **kwargs):
        self._check()
        return super().exists(path, **kwargs)

    def rm(self, path, *args, **kwargs):
        self._check()
        return super().rm(path, *args, **kwargs)


class TamperingFileSystem(MemoryFileSystem):
    """Hands back a dump with one byte changed (bit rot, a tampered object) when it is read."""

    protocol = "tampering"
    store: dict = {}
    pseudo_dirs = [""]

    @classmethod
    def _strip_protocol(cls, path):
        path = str(path)
        if path.startswith(f"{cls.protocol}://"):
            path = path[len(cls.protocol) + 3:]
        return super()._strip_protocol(path)

    def _open(self, path, mode="rb", **kwargs):
        handle = super()._open(path, mode, **kwargs)
        if mode == "rb" and not str(path).endswith(".json"):
            data = bytearray(handle.getvalue())
            data[len(data) // 2] ^= 0xFF
            return MemoryFile(None, None, bytes(data))
        return handle


fsspec.register_implementation("vanishing", VanishingFileSystem, clobber=True)
fsspec.register_implementation("tampering", TamperingFileSystem, clobber=True)


def memory_objects(fs_class) -> list[str]:
    return sorted(fs_class.store)


# -- the dump tool ---------------------------------------------------------------------------------
@pytest.mark.postgres
def test_pg_dump_missing(backup_shop, pg_url: str, tmp_path: Path) -> None:
    dest = tmp_path / "backups"
    project = backup_shop(pg_url, seed=False, url=str(dest), pg_dump="/nonexistent/bin/pg_dump")
    result = run("create", "--project", str(project), "--database-url", pg_url)
    assert result.exit_code == 2
    assert ("pg_dump configured as '/nonexistent/bin/pg_dump' ([tool.safemigrate.backup] pg_dump) does not exist "
            "or does not run.") in result.stderr
    assert "Dump tool not available" in result.stderr
    assert files(dest) == []


def test_no_pg_dump_fits_the_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bin13 = tmp_path / "13" / "bin"
    fake_tool(bin13, "pg_dump", "13.9")
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    from safemigrate.core.errors import DumpToolMissing

    with pytest.raises(DumpToolMissing) as caught:
        pg_tool("pg_dump", 15, search_dirs=(str(tmp_path / "*" / "bin"),))
    assert caught.value.what == f"No pg_dump fits this PostgreSQL 15 server (found: {bin13 / 'pg_dump'} (13))."
    assert "apt-get install postgresql-client-15" in caught.value.fix
    with pytest.raises(DumpToolMissing, match="found: none"):
        pg_tool("pg_dump", 15, search_dirs=(str(tmp_path / "nothing"),))
    # A newer one works (with a note); the matching one wins when both are there.
    fake_tool(tmp_path / "16" / "bin", "pg_dump", "16.2")
    tool, note = pg_tool("pg_dump", 15, search_dirs=(str(tmp_path / "*" / "bin"),))
    assert tool.major == 16 and "restoring needs pg_restore 16 or newer" in (note or "")
    fake_tool(tmp_path / "15" / "bin", "pg_dump", "15.4")
    tool, note = pg_tool("pg_dump", 15, search_dirs=(str(tmp_path / "*" / "bin"),))
    assert (tool.major, note) == (15, None)
    with pytest.raises(DumpToolMissing, match="is version 13; version 15 or newer is needed"):
        pg_tool("pg_dump", 15, str(bin13 / "pg_dump"))


@pytest.mark.postgres
def test_pg_dump_fails_mid_stream(backup_shop, pg_url: str, tmp_path: Path) -> None:
    fake = fake_tool(tmp_path / "bin", "pg_dump", "15.20",
                     "head -c 400000 /dev/urandom\necho 'pg_dump: error: simulated crash while dumping' >&2\nexit 1")
    dest = tmp_path / "backups"
    project = backup_shop(pg_url, seed=False, url=str(dest), pg_dump=str(fake))
    result = run("create", "--project", str(project), "--database-url", pg_url)
    assert result.exit_code == 3
    assert "pg_dump failed (exit 1) after writing 0.4 MiB: pg_dump: error: simulated crash while dumping" in \
        result.stderr
    assert "An interrupted dump cannot restore the database: it does not count as a backup." in result.stderr
    assert "was removed; no manifest was written" in result.stderr
    assert files(dest) == []


@pytest.mark.postgres
def test_database_disappears_during_the_dump(backup_shop, pg_url: str, tmp_path: Path) -> None:
    dest = tmp_path / "backups"
    project = backup_shop(pg_url, seed=False, url=str(dest), buffer_mb=1)
    execute(pg_url, "CREATE TABLE big (id int, payload text)",
            "INSERT INTO big SELECT i, md5(i::text) || md5((i * 7)::text) || md5((i * 13)::text) "
            "FROM generate_series(1, 400000) i")
    database = pg_url.rsplit("/", 1)[1]
    admin = create_engine(pg_url, poolclass=pool.NullPool, isolation_level="AUTOCOMMIT")
    terminated: list[int] = []

    def kill_the_dump(progress) -> None:
        if terminated or progress.phase != "dump":
            return
        with admin.connect() as conn:
            terminated.extend(conn.execute(text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = :db AND application_name = 'safemigrate-backup'"), {"db": database}).scalars())

    try:
        with pytest.raises(DumpFailed) as caught:
            create_backup(Project.from_pyproject(project, database_url=pg_url), on_progress=kill_the_dump)
    finally:
        admin.dispose()
    assert terminated == [True]
    error = caught.value
    assert error.exit_code == 3
    assert error.what.startswith("pg_dump failed (exit 1) after writing ")
    assert "Dumping the contents of table \"big\" failed" in error.what
    assert ("server closed the connection unexpectedly" in error.details
            or "terminating connection due to administrator command" in error.details)
    assert "The database connection was lost during the dump" in error.fix
    assert files(dest) == []


# -- the storage ------------------------------------------------------------------------------------
@pytest.mark.postgres
def test_s3_bucket_does_not_exist(backup_shop, pg_url: str, s3) -> None:
    project = backup_shop(pg_url, seed=False, url="s3://no-such-bucket-here/shop")
    result = run("create", "--project", str(project), "--database-url", pg_url)
    assert result.exit_code == 3
    assert "Could not reach the backup destination s3://no-such-bucket-here/shop" in result.stderr
    assert "the bucket is missing or misspelt" in result.stderr
    assert s3.keys() == []


def test_local_destination_refuses_the_write(backup_shop, sqlite_url: str, tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the backup folder should be")
    project = backup_shop(sqlite_url, seed=False, url=str(blocker / "backups"))
    result = run("create", "--project", str(project), "--database-url", sqlite_url)
    assert result.exit_code == 3
    assert f"Could not reach the backup destination {blocker / 'backups'}" in result.stderr
    assert "Backup storage failed (exit 3)" in result.stderr
    assert blocker.read_text().startswith("a file")


@pytest.mark.postgres
def test_storage_breaks_mid_upload_partial_object_removed(backup_shop, pg_url: str) -> None:
    VanishingFileSystem.store.clear()
    VanishingFileSystem.vanish, VanishingFileSystem.gone = False, False
    project = backup_shop(pg_url, url="vanishing://backups/shop")
    execute(pg_url, "CREATE TABLE noise AS SELECT i, md5(i::text) AS h FROM generate_series(1, 60000) i")
    result = run("create", "--project", str(project), "--database-url", pg_url)
    assert result.exit_code == 3
    assert "Could not write vanishing://backups/shop/" in result.stderr
    assert "ConnectionResetError" in result.stderr
    assert "was removed; no manifest was written" in result.stderr
    assert [k for k in memory_objects(VanishingFileSystem) if not k.endswith("/")] == []


@pytest.mark.postgres
def test_storage_disappears_mid_upload_nothing_looks_complete(backup_shop, pg_url: str) -> None:
    VanishingFileSystem.store.clear()
    VanishingFileSystem.vanish, VanishingFileSystem.gone = True, False
    project = backup_shop(pg_url, url="vanishing://gone/shop")
    execute(pg_url, "CREATE TABLE noise AS SELECT i, md5(i::text) AS h FROM generate_series(1, 60000) i")
    result = run("create", "--project", str(project), "--database-url", pg_url)
    assert result.exit_code == 3
    assert "could not be removed (the storage failed too). It has no manifest" in result.stderr
    VanishingFileSystem.gone = False  # the storage is back
    left = [k for k in memory_objects(VanishingFileSystem) if not k.endswith("/")]
    assert len(left) == 1 and left[0].endswith(".dump")  # the partial dump, without a manifest
    listed = run("list", "--project", str(project), "--database-url", pg_url)
    assert "incomplete (no manifest)" in listed.stdout
    restore = run("restore", left[0].rsplit("/", 1)[1][:-5], "--project", str(project), "--database-url", pg_url)
    assert restore.exit_code == 2 and "is incomplete: its dump has no manifest" in restore.stderr


@pytest.mark.postgres
@pytest.mark.slow
def test_s3_server_stops_mid_upload(backup_shop, pg_url: str, s3) -> None:
    """A real S3 API going away between two parts of a multipart upload."""
    project = backup_shop(pg_url, seed=False, url=f"{s3.url}/shop", buffer_mb=4, storage_options={
        "default_block_size": 5 * 1024 * 1024,
        "config_kwargs": {"retries": {"max_attempts": 1}, "connect_timeout": 2}})
    execute(pg_url, "CREATE TABLE big (id int, payload text)",
            "INSERT INTO big SELECT i, md5(i::text) || md5((i * 7)::text) FROM generate_series(1, 400000) i")
    stopped = threading.Event()

    def stop_after_first_part(progress) -> None:
        if progress.phase == "dump" and progress.bytes > 6 * 1024 * 1024 and not stopped.is_set():
            stopped.set()
            s3.stop()

    with pytest.raises(StorageError) as caught:
        create_backup(Project.from_pyproject(project, database_url=pg_url), on_progress=stop_after_first_part)
    assert stopped.is_set()
    assert caught.value.exit_code == 3
    assert caught.value.what.startswith(f"Could not write {s3.url}/shop/")
    assert "could not be removed" in caught.value.details
    s3.start()  # same port, same (in-process) state
    assert s3.keys() == []  # the upload never completed: no object, no manifest


# -- verification -----------------------------------------------------------------------------------
@pytest.mark.postgres
def test_checksum_mismatch_on_verify(backup_shop, pg_url: str, tmp_path: Path) -> None:
    dest = tmp_path / "backups"
    project = backup_shop(pg_url, url=str(dest))
    created = run("create", "--project", str(project), "--database-url", pg_url)
    assert created.exit_code == 0, created.output
    dump = next(dest.glob("*.dump"))
    data = bytearray(dump.read_bytes())
    data[len(data) // 2] ^= 0xFF
    dump.write_bytes(bytes(data))

    verified = run("verify", "latest", "--project", str(project), "--database-url", pg_url)
    assert verified.exit_code == 3
    assert "✗ stored checksum: sha256" in verified.stdout
    assert "the object changed after it was written" in verified.stderr
    assert "Backup verification failed (exit 3)" in verified.stderr

    target = pg_url + "_never"
    restored = run("restore", "latest", "--project", str(project), "--database-url", pg_url, "--to", target)
    assert restored.exit_code == 3
    assert "does not match its manifest" in restored.stderr and "the target was not touched" in restored.stderr
    engine = create_engine(pg_url, poolclass=pool.NullPool)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM pg_database WHERE datname = :n"),
                            {"n": target.rsplit("/", 1)[1]}).scalar() == 0
    engine.dispose()


def test_checksum_mismatch_while_creating(backup_shop, sqlite_url: str) -> None:
    TamperingFileSystem.store.clear()
    project = backup_shop(sqlite_url, url="tampering://backups/shop")
    result = run("create", "--project", str(project), "--database-url", sqlite_url)
    assert result.exit_code == 3
    assert "failed verification: stored checksum: sha256" in result.stderr
    assert "was removed; no manifest was written" in result.stderr
    assert [k for k in memory_objects(TamperingFileSystem) if not k.endswith("/")] == []


def test_configuration_mistakes_are_exit_2(backup_shop, sqlite_url: str) -> None:
    from conftest import configure_backup

    project = backup_shop(sqlite_url, seed=False)
    configure_backup(project, url="/tmp/x", name="{database}-{password}")
    result = run("create", "--project", str(project), "--database-url", sqlite_url)
    assert result.exit_code == 2
    assert "uses unknown placeholder(s): password" in result.stderr
    configure_backup(project, url="s3://b/x", storage_options={"client_kwargs": {"aws_secret_access_key": "x"}})
    result = run("list", "--project", str(project), "--database-url", sqlite_url)
    assert result.exit_code == 2
    assert "credential-like key(s): client_kwargs.aws_secret_access_key" in result.stderr
    assert os.environ.get("AWS_SECRET_ACCESS_KEY") != "x"


@pytest.mark.slow  # waits out its storage timeout (~30 s)
def test_a_hung_s3_endpoint_fails_the_backup_within_its_timeout(backup_shop, sqlite_url: str, monkeypatch) -> None:
    """The endpoint accepts connections and never answers: the backup fails, it does not hang (issue #10 §4)."""
    import socket
    import threading

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])  # read nothing, answer nothing
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_DEFAULT_REGION": "us-east-1",
                        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{listener.getsockname()[1]}"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    try:
        project = backup_shop(sqlite_url, seed=False, url="s3://hung-bucket/shop", storage_timeout=1)
        result = run("create", "--project", str(project), "--database-url", sqlite_url)
        assert result.exit_code == 3, result.output
        assert "s3://hung-bucket/shop" in result.stderr
        assert held, result.stderr
    finally:
        stop.set()
        thread.join()
        for connection in held:
            connection.close()
        listener.close()


# -- a verified backup holds the data -----------------------------------------------------------------
def _wrapper(folder: Path, name: str, real: str, extra: str) -> Path:
    """The real dump tool, called with one more option (a misconfigured wrapper, an old script)."""
    import shutil
    import stat

    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(f'#!/bin/sh\nif [ "$1" = "--version" ]; then exec {real} --version; fi\nexec {real} {extra} "$@"\n')
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    assert shutil.which(real) or Path(real).exists()
    return path


@pytest.mark.postgres
def test_a_postgres_dump_without_a_tables_data_is_not_verified(backup_shop, pg_url: str, tmp_path: Path) -> None:
    import shutil

    real = shutil.which("pg_dump")
    assert real is not None
    wrapper = _wrapper(tmp_path / "bin", "pg_dump", real, "--exclude-table-data=customers")
    dest = tmp_path / "backups"
    project = backup_shop(pg_url, url=str(dest), pg_dump=str(wrapper))
    result = run("create", "--project", str(project), "--database-url", pg_url)
    assert result.exit_code == 3, result.output
    assert "have no data in the dump: customers" in result.stdout + result.stderr
    assert list(dest.glob("*.manifest.json")) == []  # not a backup: no manifest, never "latest"


@pytest.mark.mysql
def test_a_mariadb_dump_without_a_tables_data_is_not_verified(backup_shop, mysql_url: str, tmp_path: Path) -> None:
    import shutil

    real = shutil.which("mariadb-dump") or shutil.which("mysqldump")
    assert real is not None
    database = mysql_url.rsplit("/", 1)[1]
    wrapper = _wrapper(tmp_path / "bin", "mariadb-dump", real, f"--ignore-table-data={database}.customers")
    dest = tmp_path / "backups"
    project = backup_shop(mysql_url, url=str(dest), mysql_dump=str(wrapper))
    result = run("create", "--project", str(project), "--database-url", mysql_url)
    assert result.exit_code == 3, result.output
    assert "have no data in the dump: customers" in result.stdout + result.stderr
    assert list(dest.glob("*.manifest.json")) == []


def test_a_verified_sqlite_backup_records_which_tables_had_rows(backup_shop, sqlite_url: str, tmp_path: Path) -> None:
    dest = tmp_path / "backups"
    project = backup_shop(sqlite_url, url=str(dest))
    result = run("create", "--project", str(project), "--database-url", sqlite_url, "--format", "json")
    assert result.exit_code == 0, result.output
    import json

    data = json.loads(result.stdout)
    assert data["manifest"]["tables"]["customers"]["nonempty"] is True
    assert data["manifest"]["tables"]["addresses"]["nonempty"] is False
    checks = {c["name"]: c for c in data["verify"]["checks"]}
    assert checks["data"]["ok"] and "has data in the dump" in checks["data"]["message"]
