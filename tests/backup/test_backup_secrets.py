"""The database password never appears in a backup's name, its manifest, the output or the logs,
and reaches the dump tools only through their environment or a private credentials file."""

from __future__ import annotations

import logging
import secrets
import stat
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import create_engine, pool, text
from sqlalchemy.engine import make_url

from safemigrate.cli.backup import backup

PASSWORD = "Pw-" + secrets.token_hex(8)


def run(*args: str):
    return CliRunner().invoke(backup, list(args), env={"COLUMNS": "1000"}, catch_exceptions=False)


@pytest.fixture
def pg_role_url(pg_url: str):
    """pg_url, but as a role that has a password (the server trusts loopback, so any password works)."""
    role = f"smrole_{secrets.token_hex(4)}"
    admin = create_engine(pg_url, poolclass=pool.NullPool, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"CREATE ROLE {role} LOGIN SUPERUSER PASSWORD '{PASSWORD}'"))
    try:
        yield make_url(pg_url).set(username=role, password=PASSWORD).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            for name in conn.execute(text("SELECT datname FROM pg_database d JOIN pg_roles r ON r.oid = d.datdba "
                                          "WHERE r.rolname = :r"), {"r": role}).scalars().all():
                conn.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
            conn.execute(text(f"DROP OWNED BY {role}"))
            conn.execute(text(f"DROP ROLE {role}"))
        admin.dispose()


@pytest.mark.postgres
def test_password_never_shown_or_stored(backup_shop, pg_url: str, pg_role_url: str, tmp_path: Path, s3,
                                        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    dest = tmp_path / "backups"
    # The template uses every placeholder; a database named like the password must not leak it either.
    project = backup_shop(pg_url, url=str(dest), name="{database}-{environment}-{timestamp}-{from_rev}-{to_rev}")
    seen: list[str] = []
    for args in (
        ("create", "--verify", "restore"),
        ("create", "--format", "json"),
        ("create", "--format", "markdown", "--dest", f"{s3.url}/x"),
        ("list",), ("list", "--format", "json"), ("verify", "latest", "--restore"),
        ("restore", "latest", "--to", make_url(pg_role_url).set(database="smsecret_restored")
         .render_as_string(hide_password=False)),
        ("restore", "latest"),  # refused: not empty
        ("create", "--dest", "s3://no-such-bucket-anywhere/x"),  # storage error
    ):
        result = run(*args, "--project", str(project), "--database-url", pg_role_url)
        seen += [result.stdout, result.stderr]
    unreachable = run("create", "--project", str(project), "--database-url",
                      make_url(pg_role_url).set(port=1).render_as_string(hide_password=False))
    assert unreachable.exit_code == 3 and "Could not connect for the backup at" in unreachable.stderr
    seen += [unreachable.stdout, unreachable.stderr]

    text_seen = "\n".join(seen)
    assert "✓ backup" in text_seen and "is not empty" in text_seen and "the bucket is missing" in text_seen
    assert ":***@" in text_seen  # the URL is shown, masked
    assert PASSWORD not in text_seen
    assert all(PASSWORD not in record.getMessage() for record in caplog.records)
    stored = list(dest.iterdir())
    assert len(stored) == 4
    for path in stored:
        assert PASSWORD not in path.name
        assert PASSWORD.encode() not in path.read_bytes()
    manifest = next(dest.glob("*.manifest.json")).read_text()
    assert '"database": "postgresql+psycopg://smrole_' in manifest and ":***@127.0.0.1:5432/" in manifest
    for key in s3.keys():
        assert PASSWORD not in key
        assert PASSWORD.encode() not in s3.client().get_object(Bucket=s3.bucket, Key=key)["Body"].read()


def _spy(folder: Path, name: str, version_line: str, record: Path, extra: str = "") -> Path:
    """A dump tool that records its argv and environment, then writes a tiny dump and fails on purpose."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(f"""#!/bin/sh
if [ "$1" = "--version" ]; then echo "{version_line}"; exit 0; fi
echo "argv: $*" > {record}
echo "PGPASSWORD=$PGPASSWORD" >> {record}
{extra}
echo "spy: error: stopping here" >&2
exit 1
""")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


@pytest.mark.postgres
def test_pg_dump_gets_the_password_from_its_environment_only(backup_shop, pg_url: str, pg_role_url: str,
                                                             tmp_path: Path) -> None:
    record = tmp_path / "pg_dump.txt"
    spy = _spy(tmp_path / "bin", "pg_dump", "pg_dump (PostgreSQL) 15.20", record)
    project = backup_shop(pg_url, seed=False, url=str(tmp_path / "b"), pg_dump=str(spy))
    result = run("create", "--project", str(project), "--database-url", pg_role_url)
    assert result.exit_code == 3 and "spy: error: stopping here" in result.stderr
    argv, env = record.read_text().splitlines()[:2]
    assert PASSWORD not in argv
    assert "--format=custom" in argv and "--snapshot=" in argv and "application_name='safemigrate-backup'" in argv
    assert env == f"PGPASSWORD={PASSWORD}"


@pytest.fixture
def mysql_role_url(mysql_url: str):
    """mysql_url as a user with a password (and the rights to create the throwaway database)."""
    user = f"smuser_{secrets.token_hex(4)}"
    admin = create_engine(mysql_url, poolclass=pool.NullPool, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        for host in ("%", "localhost", "127.0.0.1"):
            conn.execute(text(f"CREATE USER '{user}'@'{host}' IDENTIFIED BY '{PASSWORD}'"))
            conn.execute(text(f"GRANT ALL ON *.* TO '{user}'@'{host}'"))
    try:
        yield make_url(mysql_url).set(username=user, password=PASSWORD).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            for host in ("%", "localhost", "127.0.0.1"):
                conn.execute(text(f"DROP USER IF EXISTS '{user}'@'{host}'"))
        admin.dispose()


@pytest.mark.mysql
def test_mariadb_dump_gets_the_password_from_a_private_file(backup_shop, mysql_url: str, mysql_role_url: str,
                                                            tmp_path: Path) -> None:
    """The password reaches the tool in an in-memory file (/dev/fd/N, mode 0600): nothing on disk to leave."""
    import tempfile

    record = tmp_path / "dump.txt"
    # Record the credentials file the tool was given, its mode, and any credentials folder on disk.
    extra = (f'cnf="${{1#--defaults-extra-file=}}"; stat -L -c %a "$cnf" >> {record}; '
             f'pw="{PASSWORD[:6]}""{PASSWORD[6:]}"; '  # the script itself must not hold the password
             # (pytest's folders are left out: another test's spy records a password on purpose)
             f'grep -rlsF --exclude-dir="pytest-of-*" -- "$pw" {tempfile.gettempdir()} | wc -l >> {record}; '
             f'cat "$cnf" >> {record}')
    spy = _spy(tmp_path / "bin", "mariadb-dump", "mariadb-dump  Ver 10.19 Distrib 10.11.6-MariaDB", record, extra)
    project = backup_shop(mysql_url, url=str(tmp_path / "b"), mysql_dump=str(spy))
    result = run("create", "--project", str(project), "--database-url", mysql_role_url)
    assert result.exit_code == 3 and "spy: error: stopping here" in result.stderr
    lines = record.read_text().splitlines()
    assert PASSWORD not in lines[0] and lines[0].startswith("argv: --defaults-extra-file=/dev/fd/")
    assert lines[2:4] == ["600", "0"]  # private, and no credentials file on disk while the tool runs
    assert lines[4:6] == ["[client]", f'password="{PASSWORD}"']
    assert PASSWORD not in result.stdout + result.stderr

    # And the real tools work with it, end to end.
    from conftest import configure_backup

    configure_backup(project, url=str(tmp_path / "real"))
    real = run("create", "--project", str(project), "--database-url", mysql_role_url, "--verify", "restore")
    assert real.exit_code == 0, real.output
    assert PASSWORD not in real.stdout + real.stderr
