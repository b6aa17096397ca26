"""SIGTERM and SIGHUP clean up like Ctrl-C (issue #10 §4): no throwaway database, no process left behind.

The revision being built writes the name of the throwaway database it runs on, then waits; the test
signals the CLI process (only it, as Kubernetes or a deploy tool's timeout would) and reads the server.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import create_engine, pool, text

WAIT = '''
    import os, pathlib, time
    pathlib.Path(os.environ["SM_MARK"]).write_text(f"{op.get_bind().engine.url.database} {os.getpid()}")
    time.sleep(600)
'''


def _default_signals() -> None:
    """As a shell starts a command: the test runner's workers may ignore SIGINT, and an ignored signal is
    inherited (Python then leaves it ignored)."""
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, signal.SIG_DFL)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().split()[2] != "Z"


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT], ids=lambda s: s.name)
def test_a_signal_drops_the_throwaway_database(shop, pg_server, tmp_path, signum):
    revision = next((shop / "migrations" / "versions").glob("916a526e23a8_*.py"))
    source = revision.read_text()
    revision.write_text(source.replace("def upgrade() -> None:\n", "def upgrade() -> None:" + WAIT, 1))
    mark = tmp_path / "mark"
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "APP_ENV"}}
    env["SM_MARK"] = str(mark)
    exe = Path(sys.executable).with_name("safemigrate")
    process = subprocess.Popen([str(exe), "check", "--scratch-url", pg_server], cwd=shop, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               preexec_fn=_default_signals)
    deadline = time.monotonic() + 240
    while not mark.exists() or not mark.read_text():
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "the revision never ran"
        time.sleep(0.05)
    database, child = mark.read_text().split()
    process.send_signal(signum)
    _, stderr = process.communicate(timeout=120)

    assert process.returncode == 128 + signum, stderr
    assert f"Stopped by {signal.Signals(signum).name}" in stderr and "Traceback" not in stderr
    engine = create_engine(pg_server, poolclass=pool.NullPool)
    try:
        with engine.connect() as conn:
            left = conn.execute(text("SELECT count(*) FROM pg_database WHERE datname = :d"), {"d": database}).scalar()
    finally:
        engine.dispose()
    assert left == 0, f"{database} was left behind"
    deadline = time.monotonic() + 30
    while _alive(int(child)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(int(child)), "the process running env.py outlived the command"
