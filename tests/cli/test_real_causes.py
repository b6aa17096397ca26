"""Errors name the real cause: no CREATEDB on the scratch server, no CREATE privilege on MariaDB, a missing
role, a binary file in versions/, a versions folder that cannot be written."""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest
from conftest import EXAMPLE, copy_project, run_safemigrate
from helpers import execute
from sqlalchemy.engine import make_url

from safemigrate.harness.envpy import _unwritable


@pytest.fixture
def shop(tmp_path: Path) -> Path:
    return copy_project(EXAMPLE, tmp_path / "shop")


def _as(server: str, user: str) -> str:
    return make_url(server).set(username=user, password=None).render_as_string(hide_password=False)


def test_a_scratch_role_without_createdb_is_told_to_get_it(shop, pg_server):
    role = f"sm_nocreatedb_{secrets.token_hex(3)}"
    execute(pg_server, f"CREATE ROLE {role} LOGIN")
    try:
        result = run_safemigrate("check", "--scratch-url", _as(pg_server, role), cwd=shop)
    finally:
        execute(pg_server, f"DROP ROLE {role}")
    assert result.returncode == 3, result.stdout + result.stderr
    message = " ".join(result.stderr.split())
    assert f"The server accepted '{role}' but does not let it create databases" in message
    assert f"ALTER ROLE {role} CREATEDB" in message
    assert "check that the server is running" not in message.lower()


def test_a_role_the_server_does_not_have_is_named(shop, pg_server):
    result = run_safemigrate("check", "--scratch-url", _as(pg_server, "sm_no_such_role"), cwd=shop)
    assert result.returncode == 3, result.stdout + result.stderr
    message = " ".join(result.stderr.split())
    assert "The server has no role (user) named 'sm_no_such_role'" in message
    assert "database does not exist" not in message


def test_a_mariadb_user_without_create_is_told_which_grant_it_needs(shop, mysql_server):
    user = f"sm_nocreate_{secrets.token_hex(3)}"
    execute(mysql_server, f"CREATE USER '{user}'@'%'")
    try:
        result = run_safemigrate("check", "--scratch-url", _as(mysql_server, user), cwd=shop)
    finally:
        execute(mysql_server, f"DROP USER '{user}'@'%'")
    assert result.returncode == 3, result.stdout + result.stderr
    message = " ".join(result.stderr.split())
    assert f"The server accepted '{user}' but does not let it create databases" in message
    assert f"GRANT ALL PRIVILEGES ON `safemigrate\\_tmp\\_%`.* TO '{user}'@'%'" in message
    assert "check the user name and password" not in message.lower()


@pytest.mark.parametrize(("content", "why"), [(b"revision = 'x'\n\x00\x01\x02", "a NUL byte at offset 15"),
                                              (b"x = '\xff\xfe'\n", "bytes that are not UTF-8 at offset 5")])
def test_a_binary_file_in_versions_is_named(shop, content, why):
    broken = shop / "migrations" / "versions" / "zz_saved_by_a_merge_tool.py"
    broken.write_bytes(content)
    result = run_safemigrate("check", cwd=shop)
    assert result.returncode == 3, result.stdout + result.stderr
    message = " ".join(result.stderr.split())
    assert f"Migration file {broken} is not Python source: it holds binary data ({why})" in message
    assert "None" not in message


def test_a_versions_folder_that_cannot_be_written_is_named_not_blamed_on_env_py():
    # as root no folder is read-only, so the operating system's own refusal is taken where it happens anyway
    try:
        with open("/sys/safemigrate_probe.py", "w"):
            pass
    except OSError as exc:
        refusal = exc
    else:  # pragma: no cover
        pytest.skip("/sys is writable here")
    error = _unwritable(refusal)
    assert error is not None and error.exit_code == 2
    assert error.what.startswith("The new revision could not be written to /sys/safemigrate_probe.py: it is not")
    assert "Make the versions folder writable" in error.fix
    assert _unwritable(ValueError("not a disk problem")) is None


def _refusal(path: str, data: bytes = b"x") -> OSError:
    """The operating system's own error for writing ``path`` (taken, never made up)."""
    try:
        with open(path, "wb") as handle:
            handle.write(data)
            handle.flush()
    except OSError as exc:
        return exc
    pytest.skip(f"{path} took the write here")


@pytest.mark.parametrize(("path", "cause"), [
    ("/sys/safemigrate_backup", "is not writable by this user"),  # EACCES, even for root
    ("/dev/full", "is full (or the user's quota is used up)"),  # ENOSPC
])
def test_a_local_backup_folder_names_its_own_cause_not_object_store_credentials(tmp_path, path, cause):
    from safemigrate.backup.storage import Storage

    storage = Storage(str(tmp_path / "backups"))
    error = storage.error(_refusal(path), "write the backup")
    assert cause in error.why and str(tmp_path / "backups") in error.why
    assert "AWS" not in error.why + error.fix and "endpoint" not in error.fix


@pytest.fixture
def tiny_tmpdir(tmp_path: Path):
    """A real 2 MB file system (tmpfs) to serve as TMPDIR: the disk fills up as it would."""
    import subprocess

    folder = tmp_path / "tiny"
    folder.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(folder)], capture_output=True)
    if mounted.returncode != 0:  # not root, or no mount in this container: the cause cannot be made real
        pytest.skip(f"cannot mount a small tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def test_a_full_disk_under_the_throwaway_sqlite_is_named_not_blamed_on_the_migration(shop, tiny_tmpdir):
    from alembic.script import ScriptDirectory

    head = ScriptDirectory(str(shop / "migrations")).get_current_head()
    filler = shop / "migrations" / "versions" / "ffff00000001_fill.py"
    filler.write_text(f'''"""fill: 8 MB of rows"""
from alembic import op

revision = "ffff00000001"
down_revision = "{head}"
branch_labels = None
depends_on = None


def upgrade():
    op.execute("CREATE TABLE filler (blob BLOB)")
    op.execute("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 8000) "
               "INSERT INTO filler SELECT zeroblob(1000) FROM n")


def downgrade():
    op.execute("DROP TABLE filler")
''')
    before = {p: p.read_bytes() for p in shop.rglob("*") if p.is_file()}
    result = run_safemigrate("check", cwd=shop, env={"TMPDIR": str(tiny_tmpdir)})
    message = " ".join(result.stderr.split())
    assert result.returncode == 3, result.stdout + result.stderr
    assert "Revision ffff00000001" in message and "ran out of space" in message, message
    assert "set TMPDIR to a folder with room" in message and str(tiny_tmpdir) in message
    assert "Fix the migration" not in message and "Traceback" not in message
    assert {p: p.read_bytes() for p in shop.rglob("*") if p.is_file()} == before
    assert not list(tiny_tmpdir.iterdir())  # the throwaway database is gone
