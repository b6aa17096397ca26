"""The backfill under load: it terminates while the application inserts 500 rows a second, and a kill -9 at
random moments loses at most the batch it interrupted.

Split from test_changes.py so that its slowest tests spread over the test workers.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import sqlalchemy as sa
from helpers import scalar, upgrade
from test_changes import NAME, ROWS, _project, _revisions, seeded_accounts, wait_until

from safemigrate.changes import backfill, write_change

pytestmark = [pytest.mark.postgres, pytest.mark.slow]
KILL_ROWS = 50_000


@pytest.fixture
def accounts(tmp_path, pg_url, request):
    return seeded_accounts(tmp_path, pg_url, request)


@pytest.mark.slow
@pytest.mark.rows(ROWS)
def test_backfill_terminates_while_500_inserts_per_second_run(accounts, pg_url):
    write_change(_project(accounts, pg_url), "rename-column", "users", "email", new_column="email_address",
                 contract_later=True)
    expand = json.loads((accounts / "migrations" / "safemigrate_changes" / f"{NAME}.json").read_text())[
        "expand_revision"]
    upgrade(accounts, pg_url, expand)
    stop = threading.Event()
    inserted = [0]

    def insert_500_per_second() -> None:
        engine = sa.create_engine(pg_url)
        started = time.monotonic()
        with engine.connect() as conn:
            while not stop.is_set():
                due = int((time.monotonic() - started) * 500)
                if inserted[0] < due:
                    conn.execute(sa.text("INSERT INTO users (email, name) VALUES (:e, 'load')"),
                                 [{"e": f"load-{inserted[0] + n}@example.com"} for n in range(due - inserted[0])])
                    conn.commit()
                    inserted[0] = due
                time.sleep(0.005)
        engine.dispose()

    loader = threading.Thread(target=insert_500_per_second, daemon=True)
    loader.start()
    wait_until(lambda: inserted[0] >= 500, "the first 500 inserts")
    before = inserted[0]
    report = backfill(_project(accounts, pg_url), NAME, max_batch_size=5000)  # returns: it terminates
    during = inserted[0] - before
    wait_until(lambda: inserted[0] >= before + during + 250, "inserts after the backfill")
    stop.set()
    loader.join(30)
    assert report.verified and during > 0, report
    assert scalar(pg_url, "SELECT count(*) FROM users WHERE email_address IS DISTINCT FROM email") == 0
    assert scalar(pg_url, "SELECT count(*) FROM users WHERE name = 'load'") == inserted[0]
    assert scalar(pg_url, f"SELECT phase FROM safemigrate_changes WHERE name = '{NAME}'") == "backfilled"
    print(f"\n[figures] under ~500 inserts/s: {during} rows inserted during the backfill, {report.batches} batches, "
          f"slowest {report.slowest_batch_ms:.0f} ms, {report.duration_ms:.0f} ms, then verified")


@pytest.mark.slow
@pytest.mark.rows(KILL_ROWS)
def test_kill_9_during_backfill_resumes_within_one_batch(accounts, pg_url):
    write_change(_project(accounts, pg_url), "rename-column", "users", "email", new_column="email_address")
    expand, _ = _revisions(accounts)
    upgrade(accounts, pg_url, expand)
    chooser = random.Random(1405)
    exe = Path(sys.executable).with_name("safemigrate")
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "SAFEMIGRATE_DATABASE_URL"}}
    command = [str(exe), "change", "backfill", NAME, "--database-url", pg_url, "--batch-size", "500",
               "--max-batch-size", "1000", "--format", "json"]

    def batches() -> int:
        if scalar(pg_url, "SELECT to_regclass('safemigrate_changes')") is None:
            return 0  # the first run has not created it yet
        return scalar(pg_url, f"SELECT coalesce(max(batches), 0) FROM safemigrate_changes WHERE name = '{NAME}'")

    kills = 0
    checkpoints: list[int] = []
    while kills < 20:
        target = batches() + 1 + chooser.randrange(3)
        process = subprocess.Popen(command, cwd=accounts, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        wait_until(lambda target=target, process=process: batches() >= target or process.poll() is not None,
                   "a batch of the backfill")
        assert process.poll() is None, "the backfill finished before it could be killed 20 times"
        time.sleep(chooser.random() * 0.05)  # a random moment inside a batch (not a synchronisation)
        process.send_signal(signal.SIGKILL)
        process.wait(30)
        kills += 1
        key = json.loads(scalar(pg_url, f"SELECT last_key FROM safemigrate_changes WHERE name = '{NAME}'"))
        checkpoints.append(key)
        # the checkpoint commits with its batch: every row up to it is backfilled, whatever the moment of the kill
        assert scalar(pg_url, f"SELECT count(*) FROM users WHERE id <= {key} "
                              "AND email_address IS DISTINCT FROM email") == 0
    assert checkpoints == sorted(checkpoints) and checkpoints[-1] < KILL_ROWS
    final = subprocess.run(command, cwd=accounts, env=env, capture_output=True, text=True, timeout=600)
    assert final.returncode == 0, final.stderr
    report = json.loads(final.stdout)
    # the last run starts at the checkpoint the last kill left: nothing committed is done again
    assert report["resumed_after"] == checkpoints[-1] and report["verified"]
    # every row was written exactly once by committed batches: a kill loses at most the batch it interrupted
    assert scalar(pg_url, f"SELECT rows_done FROM safemigrate_changes WHERE name = '{NAME}'") == KILL_ROWS
    assert scalar(pg_url, "SELECT count(*) FROM users WHERE email_address IS DISTINCT FROM email") == 0
    assert scalar(pg_url, "SELECT count(*) FROM users WHERE email_address = 'u' || id || '@example.com'") == KILL_ROWS
    total = scalar(pg_url, f"SELECT batches FROM safemigrate_changes WHERE name = '{NAME}'")
    print(f"\n[figures] kill -9 x{kills}: checkpoints {checkpoints}; committed batches {total}, rows_done {KILL_ROWS}")
