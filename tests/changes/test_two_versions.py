"""Expand–contract changes on 200,000 rows while two application versions read and write (the old model and
the new one, at once), through every phase: no error in either, no write lost or mismatched.

Split from test_changes.py so that its slowest tests spread over the test workers. Every waiting loop waits on
what the database or the application threads report, with a deadline.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable

import pytest
import sqlalchemy as sa
from helpers import execute, upgrade
from test_changes import NAME, ROWS, App, _columns, _project, seeded_accounts, wait_until

from safemigrate.changes import backfill, status, write_change

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

#: The backfill's batches here aim at 100 ms, not the default 30: what these tests prove (no error, no write lost)
#: does not depend on the batches' size, and the default's three times as many batches made these the slowest
#: tests on a loaded machine (up to six minutes each). The default is under load in test_backfill_load.py and
#: measured by benchmarks/bench_changes.py.
TARGET_MS = 100.0


@pytest.fixture
def accounts(tmp_path, pg_url, request):
    return seeded_accounts(tmp_path, pg_url, request)


@pytest.mark.slow
@pytest.mark.rows(ROWS)
def test_rename_column_while_two_application_versions_read_and_write(accounts, pg_url):
    written = write_change(_project(accounts, pg_url), "rename-column", "users", "email", new_column="email_address")
    expand, contract = written.expand_revision, written.contract_revision
    assert contract and len(written.files) == 2

    old = App(pg_url, new=False, parity=0)
    old.start()
    wait_until(old.ops_after(20), "the old version to run")
    upgrade(accounts, pg_url, expand)  # deploy 1: the expand revision, while the old version writes
    old.inserted = {}  # the new version reads rows written since the expand (older ones wait for the backfill)
    wait_until(old.ops_after(20), "the old version to run after the expand")

    new = App(pg_url, new=True, parity=1)  # deploy 2 starts: both versions run at once
    new.others, old.others = old, new
    new.start()
    wait_until(new.ops_after(20), "the new version to run")
    report = backfill(_project(accounts, pg_url), NAME, target_ms=TARGET_MS)
    assert report.verified and report.remaining == 0
    assert report.slowest_batch_ms < 1000, report
    new.read_old_rows = True
    wait_until(new.ops_after(20), "the new version to run after the backfill")

    old.stop.set()  # deploy 2 done: no old version left
    old.join(30)
    upgrade(accounts, pg_url, contract)  # deploy 3: the contract revision, while the new version writes
    wait_until(new.ops_after(20), "the new version to run after the contract")
    new.stop.set()
    new.join(30)

    assert old.errors == [] and new.errors == [], (old.errors[:3], new.errors[:3])
    assert old.mismatches == [] and new.mismatches == [], (old.mismatches[:3], new.mismatches[:3])
    assert old.ops > 40 and new.ops > 60
    # nothing lost, nothing mismatched: every row holds the last value either version wrote, or its original
    engine = sa.create_engine(pg_url)
    with engine.connect() as conn:
        rows = dict(conn.execute(sa.text("SELECT id, email_address FROM users")).all())
        columns = {c["name"] for c in sa.inspect(conn).get_columns("users")}
        triggers = conn.execute(sa.text("SELECT count(*) FROM pg_trigger WHERE tgname LIKE 'safemigrate_chg_%'")
                                ).scalar()
    engine.dispose()
    assert columns == {"id", "email_address", "name"} and triggers == 0
    expected = {i: f"u{i}@example.com" for i in range(1, ROWS + 1)}
    expected.update(old.expected)
    expected.update(new.expected)
    assert len(rows) == len(expected)
    assert [k for k in expected if rows.get(k) != expected[k]] == []
    assert status(_project(accounts, pg_url)).changes[0].phase == "contracted"
    print(f"\n[figures] two versions: old {old.ops} ops, new {new.ops} ops, 0 errors, 0 mismatches; backfill "
          f"{report.batches} batches, {report.rows_written} rows, slowest {report.slowest_batch_ms:.0f} ms, "
          f"{report.duration_ms:.0f} ms")


class Writer(threading.Thread):
    """A version of the application, in SQL: one transaction of ``write`` after another, with a short pause,
    until stopped; what it wrote is recorded only once its transaction committed."""

    def __init__(self, url: str, parity: int):
        super().__init__(daemon=True)
        self.engine = sa.create_engine(url, pool_size=1, max_overflow=0)
        self.parity = parity
        self.stop = threading.Event()
        self.ops = 0
        self.errors: list[str] = []
        self.random = random.Random(parity + 10)

    def write(self, conn: sa.Connection, i: int) -> Callable[[], None]:
        """One transaction's statements; returns what records them once it committed."""
        raise NotImplementedError

    def run(self) -> None:
        i = 0
        while not self.stop.is_set():
            i += 1
            try:
                with self.engine.begin() as conn:
                    record = self.write(conn, i)
                record()
                self.ops += 1
            except Exception as exc:
                self.errors.append(f"{type(exc).__name__}: {exc}"[:300])
            time.sleep(0.002)
        self.engine.dispose()

    def target(self) -> int:
        """A row of the seeded ones this version owns (the other version owns the other parity)."""
        return self.random.randrange(1, ROWS // 2) * 2 + self.parity


class SqlWriter(Writer):
    """Writes one column: inserts, and updates its own share of rows."""

    def __init__(self, url: str, column: str, parity: int, scale: int):
        super().__init__(url, parity)
        self.column, self.scale = column, scale
        self.cents: dict[int, int] = {}  # id -> the amount in cents this version wrote

    def write(self, conn: sa.Connection, i: int) -> Callable[[], None]:
        value = i * 7 % 100_000
        new_id = conn.execute(sa.text(f"INSERT INTO users (email, {self.column}) VALUES (:e, :v) RETURNING id"),
                              {"e": f"w{self.parity}-{i}", "v": value / self.scale}).scalar_one()
        target = self.target()
        conn.execute(sa.text(f"UPDATE users SET {self.column} = :v WHERE id = :id"),
                     {"v": (value + 1) / self.scale, "id": target})
        return lambda: self.cents.update({new_id: value, target: value + 1})


@pytest.mark.slow
@pytest.mark.rows(ROWS)
def test_change_type_converts_both_ways_while_both_versions_write(accounts, pg_url):
    execute(pg_url, "ALTER TABLE users ADD COLUMN amount integer NOT NULL DEFAULT 0", "UPDATE users SET amount = id")
    written = write_change(_project(accounts, pg_url), "change-type", "users", "amount", new_column="amount_usd",
                           new_type="numeric(12,2)", using="amount::numeric(12,2) / 100",
                           down="(amount_usd * 100)::integer")
    old = SqlWriter(pg_url, "amount", parity=0, scale=1)  # cents, as integer
    old.start()
    upgrade(accounts, pg_url, written.expand_revision)
    new = SqlWriter(pg_url, "amount_usd", parity=1, scale=100)  # dollars, as numeric
    new.start()
    wait_until(lambda: old.ops > 20 and new.ops > 20, "both versions to write")
    report = backfill(_project(accounts, pg_url), written.name, target_ms=TARGET_MS)
    assert report.verified, report
    old.stop.set()
    old.join(30)
    upgrade(accounts, pg_url, "heads")
    start = new.ops
    wait_until(lambda: new.ops > start + 20 or bool(new.errors), "the new version to write after the contract")
    new.stop.set()
    new.join(30)
    assert old.errors == [] and new.errors == [], (old.errors[:3], new.errors[:3])
    expected = {i: i for i in range(1, ROWS + 1)}
    expected.update(old.cents)
    expected.update(new.cents)
    engine = sa.create_engine(pg_url)
    with engine.connect() as conn:
        rows = {k: int(v * 100) for k, v in conn.execute(sa.text("SELECT id, amount_usd FROM users")).all()}
    engine.dispose()
    assert len(rows) == len(expected) and [k for k in expected if rows.get(k) != expected[k]] == []
    assert {r[0] for r in _columns(pg_url)} == {"id", "email", "name", "amount_usd"}


class TableWriter(Writer):
    """Uses one table: inserts, updates its share of rows, deletes some."""

    def __init__(self, url: str, table: str, parity: int):
        super().__init__(url, parity)
        self.table = table
        self.names: dict[int, str | None] = {}  # id -> name written (None: deleted)

    def write(self, conn: sa.Connection, i: int) -> Callable[[], None]:
        new_id = conn.execute(sa.text(f"INSERT INTO {self.table} (email, name) VALUES (:e, :n) RETURNING id"),
                              {"e": f"{self.table}-{i}", "n": f"i{i}"}).scalar_one()
        target = self.target()
        updated = conn.execute(sa.text(f"UPDATE {self.table} SET name = :n WHERE id = :id"),
                               {"n": f"{self.table}-u{i}", "id": target}).rowcount
        gone = target + 2 if i % 5 == 0 and target + 2 <= ROWS else None
        if gone:
            conn.execute(sa.text(f"DELETE FROM {self.table} WHERE id = :id"), {"id": gone})

        def record() -> None:
            self.names[new_id] = f"i{i}"
            if updated:  # 0: a row this version deleted before
                self.names[target] = f"{self.table}-u{i}"
            if gone:
                self.names[gone] = None
        return record


@pytest.mark.slow
@pytest.mark.rows(ROWS)
def test_rename_table_while_both_versions_insert_update_and_delete(accounts, pg_url):
    written = write_change(_project(accounts, pg_url), "rename-table", "users", new_table="members")
    old = TableWriter(pg_url, "users", parity=0)
    old.start()
    wait_until(lambda: old.ops > 20, "the old version to write")
    upgrade(accounts, pg_url, written.expand_revision)
    report = backfill(_project(accounts, pg_url), written.name, target_ms=TARGET_MS)
    assert report.verified, report
    new = TableWriter(pg_url, "members", parity=1)  # deploy 2: the new version starts once the rows are there
    new.start()
    wait_until(lambda: new.ops > 20 and old.ops > 60, "both versions to write")
    old.stop.set()
    old.join(30)
    upgrade(accounts, pg_url, "heads")
    start = new.ops
    wait_until(lambda: new.ops > start + 20 or bool(new.errors), "the new version to write after the contract")
    new.stop.set()
    new.join(30)
    assert old.errors == [] and new.errors == [], (old.errors[:3], new.errors[:3])
    expected: dict[int, str | None] = dict.fromkeys(range(1, ROWS + 1), "n")
    expected.update(old.names)
    expected.update(new.names)
    engine = sa.create_engine(pg_url)
    with engine.connect() as conn:
        rows = dict(conn.execute(sa.text("SELECT id, name FROM members")).all())
        tables = set(sa.inspect(conn).get_table_names())
    engine.dispose()
    alive = {k: v for k, v in expected.items() if v is not None}
    assert [k for k in alive if rows.get(k) != alive[k]] == [] and set(rows) == set(alive)
    assert "users" not in tables and "members" in tables
    assert status(_project(accounts, pg_url)).changes[0].phase == "contracted"
