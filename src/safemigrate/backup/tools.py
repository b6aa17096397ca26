"""Finding the dump tools, and handing them a password without putting it in argv.

PostgreSQL: ``pg_dump`` refuses a server newer than itself, and an archive is
only readable by a ``pg_restore`` at least as new as the ``pg_dump`` that
wrote it. So the pg_dump whose major version equals the server's is chosen
among ``/usr/lib/postgresql/*/bin`` (Debian, Ubuntu), other usual install
folders and ``PATH``; failing that the oldest newer one (with a note); and
when only older ones exist, the error says which version to install.
"""

from __future__ import annotations

import glob
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from safemigrate.core.errors import DumpToolMissing

PG_SEARCH_DIRS = ("/usr/lib/postgresql/*/bin", "/usr/pgsql-*/bin", "/usr/local/pgsql/bin",
                  "/opt/homebrew/opt/postgresql@*/bin", "/usr/local/opt/postgresql@*/bin",
                  "/Applications/Postgres.app/Contents/Versions/*/bin")
_VERSION = re.compile(r"(\d+)(?:\.(\d+))?")


@dataclass(frozen=True)
class Tool:
    path: str
    version: str  # the tool's own --version line
    major: int | None

    @property
    def folder(self) -> str:
        return str(Path(self.path).parent)


def probe(path: str) -> Tool | None:
    """The tool at ``path`` with its version, or None when it does not run."""
    try:
        out = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.SubprocessError):
        return None
    if out.returncode != 0:
        return None
    line = (out.stdout or out.stderr).strip().splitlines()
    text = line[0] if line else ""
    after_name = text.split(")", 1)[-1] if ")" in text else text
    match = _VERSION.search(after_name)
    return Tool(path, text, int(match.group(1)) if match else None)


def _candidates(name: str, search_dirs: tuple[str, ...]) -> list[str]:
    found: list[str] = []
    for pattern in search_dirs:
        found.extend(sorted(glob.glob(os.path.join(pattern, name))))
    on_path = shutil.which(name)
    if on_path:
        found.append(on_path)
    seen: set[str] = set()
    unique = []
    for path in found:
        real = os.path.realpath(path)
        if real not in seen and os.access(path, os.X_OK):
            seen.add(real)
            unique.append(path)
    return unique


def _configured(name: str, path: str, key: str) -> Tool:
    tool = probe(path)
    if tool is None:
        raise DumpToolMissing(
            f"{name} configured as {path!r} ([tool.safemigrate.backup] {key}) does not exist or does not run.",
            "Without it safemigrate cannot take or check the backup, so nothing was written.",
            f"Correct {key} to the path of an installed {name}, or remove the key to search PATH and "
            "/usr/lib/postgresql/*/bin.",
        )
    return tool


def pg_tool(name: str, server_major: int, configured: str | None = None, *, key: str | None = None,
            search_dirs: tuple[str, ...] = PG_SEARCH_DIRS, at_least: int | None = None,
            prefer_folder: str | None = None) -> tuple[Tool, str | None]:
    """The ``name`` (pg_dump or pg_restore) that fits a server of ``server_major``; and a note, if any."""
    wanted = at_least or server_major
    if configured:
        tool = _configured(name, configured, key or name)
        if wanted and tool.major is not None and tool.major < wanted:
            raise DumpToolMissing(
                f"{name} configured as {configured!r} is version {tool.major}; version {wanted} or newer is needed.",
                "An older pg_dump refuses a newer server, and an archive needs a pg_restore at least as new as the "
                "pg_dump that wrote it. No backup was taken.",
                f"Point [tool.safemigrate.backup] {key or name} at the PostgreSQL {wanted} client tools, or remove "
                "the key to let safemigrate search PATH and /usr/lib/postgresql/*/bin.",
            )
        return tool, _mismatch_note(tool, server_major)
    paths = _candidates(name, search_dirs)
    if prefer_folder:
        paths.sort(key=lambda p: str(Path(p).parent) != prefer_folder)
    # Versioned folders first (cheap to probe); a matching one ends the search, so Debian's pg_wrapper
    # (a Perl script on PATH) is only run when nothing else fits.
    tools: list[Tool] = []
    for path in paths:
        probed = probe(path)
        if probed is None:
            continue
        tool = probed
        tools.append(tool)
        if prefer_folder and tool.folder == prefer_folder and tool.major is not None and tool.major >= wanted:
            return tool, None
        if tool.major == server_major and server_major >= wanted:
            return tool, None
    newer = sorted((t for t in tools if t.major is not None and t.major >= wanted), key=lambda t: t.major or 0,
                   reverse=not wanted)  # nothing known about the archive: the newest reads every older one
    if newer:
        return newer[0], _mismatch_note(newer[0], server_major)
    found = ", ".join(f"{t.path} ({t.major})" for t in tools) or "none"
    raise DumpToolMissing(
        f"No {name} fits this PostgreSQL {server_major} server (found: {found}).",
        f"{name} must be version {wanted} or newer: an older pg_dump refuses a newer server, and an archive "
        "needs a pg_restore at least as new as the pg_dump that wrote it. No backup was taken.",
        f"Install the PostgreSQL {wanted} client tools (Debian/Ubuntu: apt-get install postgresql-client-{wanted}; "
        f"macOS: brew install postgresql@{wanted}), or point [tool.safemigrate.backup] {key or name} at one.",
    )


def _mismatch_note(tool: Tool, server_major: int) -> str | None:
    if tool.major is None or tool.major == server_major:
        return None
    return (f"{Path(tool.path).name} {tool.major} was used for a PostgreSQL {server_major} server: restoring needs "
            f"pg_restore {tool.major} or newer.")


def mysql_tool(names: tuple[str, ...], configured: str | None, key: str) -> Tool:
    """mariadb-dump / mysqldump (or the mariadb / mysql client): the configured one, else the first on PATH."""
    if configured:
        return _configured(names[0], configured, key)
    for name in names:
        path = shutil.which(name)
        tool = probe(path) if path else None
        if tool is not None:
            return tool
    raise DumpToolMissing(
        f"Neither {' nor '.join(names)} was found on PATH.",
        "safemigrate streams MySQL/MariaDB backups through the server's own dump and client programs; no backup "
        "was taken.",
        "Install the client tools (Debian/Ubuntu: apt-get install mariadb-client; macOS: brew install mariadb), "
        f"or set [tool.safemigrate.backup] {key} to the program's path.",
    )


@contextmanager
def mysql_defaults_file(password: str | None) -> Iterator[tuple[list[str], tuple[int, ...]]]:
    """(``--defaults-extra-file`` argv holding the password, file descriptors the tool must inherit).

    On Linux the file is an anonymous in-memory file (memfd, mode 0600) that the tool reads as
    ``/dev/fd/N``: the password never reaches the disk, and no kill of any process can leave it behind.
    Elsewhere it is a 0600 file in a private temp folder, removed when the block ends. The argv must come
    first on the command line.
    """
    if not password:
        yield [], ()
        return
    escaped = password.replace("\\", "\\\\").replace('"', '\\"')
    content = f'[client]\npassword="{escaped}"\n'.encode()
    if hasattr(os, "memfd_create"):
        fd = os.memfd_create("safemigrate-client.cnf", 0)
        try:
            os.fchmod(fd, 0o600)  # MySQL/MariaDB ignore a world-writable option file
            os.write(fd, content)
            os.lseek(fd, 0, os.SEEK_SET)
            yield [f"--defaults-extra-file=/dev/fd/{fd}"], (fd,)
        finally:
            os.close(fd)
        return
    folder = tempfile.mkdtemp(prefix="safemigrate-cred-")
    path = os.path.join(folder, "client.cnf")
    try:
        handle = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(handle, "wb") as out:
            out.write(content)
        yield [f"--defaults-extra-file={path}"], ()
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def tool_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment for a tool: ours (so PGPASSWORD, ~/.pgpass, PGSSL* keep working) plus ``extra``."""
    env = dict(os.environ)
    env.update(extra or {})
    return env
