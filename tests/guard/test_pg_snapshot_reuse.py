"""The run-time guard's catalog readings reuse an earlier one only where nothing it holds can have changed.

A revision is read three times (when it starts, when its body ends, at its commit). The reading at the
commit reuses the objects of the one at the body's end when the transaction wrote no catalog row since;
the next revision's first reading reuses the last one when its transaction committed and no other
transaction ended since. Each reuse is checked here against a whole reading of the same moment.
"""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, pool, text

from safemigrate.guard.enforce import effects
from safemigrate.guard.enforce.pg_snapshot import Catalog, _nothing_ended_since, _parse_snapshot, pinned, read
from safemigrate.state import ledger

pytestmark = pytest.mark.postgres

FIELDS = ("relations", "columns", "default_sequences", "constraints", "schemas", "enums", "sequences", "hooks",
          "with_rows", "writes", "old_rows_left", "row_counts", "role", "transaction")


def _same(reused: Catalog, whole: Catalog) -> None:
    for name in FIELDS:
        assert getattr(reused, name) == getattr(whole, name), name


def test_the_commit_reading_reuses_objects_only_while_no_catalog_row_was_written(pg_url: str) -> None:
    engine = create_engine(pg_url, poolclass=pool.NullPool)
    try:
        with engine.connect() as conn, conn.begin():
            conn.execute(text("CREATE TABLE t (id serial PRIMARY KEY, name text NOT NULL)"))
            conn.execute(text("INSERT INTO t (name) VALUES ('a'), ('b')"))
            body_end = read(conn)
            conn.execute(text("INSERT INTO t (name) VALUES ('c')"))  # a version bump: rows, no catalog row
            at_commit = read(conn, previous=body_end)
            assert at_commit.reused == "objects"
            _same(at_commit, read(conn))
            assert sum(w.inserted for w in at_commit.writes.values()) == 3  # writes are read again

            conn.execute(text("ALTER TABLE t DROP COLUMN name"))  # DDL after the body: read again, and seen
            after = read(conn, previous=at_commit)
            assert after.reused == ""
            _same(after, read(conn))
            assert [e.rule for e in effects.effects(at_commit, after)] == ["drop-column"]
            conn.rollback()
    finally:
        engine.dispose()


def test_the_next_transaction_reads_again_once_another_transaction_ended(pg_url: str) -> None:
    engine = create_engine(pg_url, poolclass=pool.NullPool)
    try:
        with engine.connect() as conn:
            with conn.begin():
                conn.execute(text("CREATE TABLE empty_then_filled (id int)"))
                last = read(conn)
            assert last.transaction is not None and not last.with_rows
            with engine.connect() as other, other.begin():  # the application writes between two revisions
                other.execute(text("INSERT INTO empty_then_filled VALUES (1)"))
            with conn.begin():
                start = read(conn, previous=last)
                assert start.reused != "all"
                _same(start, read(conn))
                oid = next(o for o, r in start.relations.items() if r.name == "empty_then_filled")
                assert oid in start.with_rows  # a drop or a wipe of it is now judged as one of a table with rows
    finally:
        engine.dispose()


def test_the_next_transaction_reuses_the_reading_across_the_journals_attempt_row(pg_url: str) -> None:
    engine = create_engine(pg_url, poolclass=pool.NullPool)
    journal_engine = create_engine(pg_url, poolclass=pool.NullPool, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn, journal_engine.connect() as journal:
            with journal.begin():
                ledger.ensure(journal)
            with conn.begin():
                conn.execute(text("CREATE TABLE t (id serial PRIMARY KEY)"))
                conn.execute(text("INSERT INTO t DEFAULT VALUES"))
                last = read(conn)
            with journal.begin():  # the next revision's attempt, recorded on the journal's own connection
                written = ledger.start(journal, "0002", attempt="a1")
            assert written is not None and written > int(last.transaction or 0)
            with conn.begin():  # read-only: no transaction id, nothing ends for the snapshots
                assert read(conn, previous=last).reused == ""  # not knowing whose transaction ended in between
            with conn.begin():
                start = read(conn, previous=last, ours=frozenset({written}))
                assert start.reused == "all"
                _same(start, read(conn))
            with journal.begin():
                other = ledger.start(journal, "0003", attempt="a2")
            with engine.connect() as app, app.begin():  # and then somebody else ended a transaction too
                app.execute(text("INSERT INTO t DEFAULT VALUES"))
            with conn.begin():
                assert read(conn, previous=start, ours=frozenset({other})).reused == ""
    finally:
        engine.dispose()
        journal_engine.dispose()


def test_nothing_ended_since_asks_for_the_committed_transaction_and_unchanged_snapshots(pg_url: str) -> None:
    engine = create_engine(pg_url, poolclass=pool.NullPool)
    try:
        with engine.connect() as conn:
            with conn.begin():
                conn.execute(text("CREATE TABLE kept (id int)"))
                committed = int(conn.execute(text("SELECT txid_current()")).scalar_one())
            with conn.begin():
                conn.execute(text("CREATE TABLE undone (id int)"))
                aborted = int(conn.execute(text("SELECT txid_current()")).scalar_one())
                conn.rollback()
            with conn.begin(), pinned(conn) as cursor:
                def judged(transaction: int, then: str, now: str, *, role: str = "postgres",
                           running_now: int | None = None, ours: frozenset[int] = frozenset()) -> bool:
                    previous = Catalog(role="postgres", session_role="postgres", transaction=transaction,
                                       snapshot=then)
                    current = Catalog(role=role, session_role="postgres", transaction=running_now, snapshot=now)
                    return _nothing_ended_since(cursor, previous, current, ours)

                t = committed
                assert judged(t, f"{t - 5}:{t}:{t - 5}", f"{t - 5}:{t + 1}:{t - 5}")
                assert not judged(aborted, f"{aborted}:{aborted}:", f"{aborted}:{aborted + 1}:")  # rolled back
                assert not judged(t, f"{t - 5}:{t - 1}:{t - 5}", f"{t - 5}:{t + 1}:{t - 5}")  # an id in between
                assert not judged(t, f"{t - 5}:{t}:{t - 5}", f"{t}:{t + 1}:")  # a running one ended
                assert not judged(t, f"{t - 5}:{t}:{t - 5}", f"{t - 5}:{t + 2}:{t - 5}")  # another one ended
                assert not judged(t, f"{t - 5}:{t}:{t - 5}", f"{t - 5}:{t + 1}:{t - 5}", role="other")
                # this transaction wrote already (a listener as it began): still the same database around it
                assert judged(t, f"{t - 5}:{t}:{t - 5}", f"{t - 5}:{t + 1}:{t - 5}", running_now=t + 1)
                assert not judged(t, f"{t - 5}:{t}:{t - 5}", f"{t - 5}:{t + 1}:{t - 5}", running_now=t)
                # safemigrate's journal wrote in between (its attempt row): that one, and only that one, is known
                assert judged(t, f"{t - 5}:{t}:{t - 5}", f"{t - 5}:{t + 2}:{t - 5}", ours=frozenset({t + 1}))
                assert not judged(t, f"{t - 5}:{t}:{t - 5}", f"{t - 5}:{t + 3}:{t - 5}", ours=frozenset({t + 1}))
                assert not judged(t, f"{t - 5}:{t}:{t - 5}", f"{t - 5}:{t + 2}:{t - 5}", ours=frozenset({t + 7}))
    finally:
        engine.dispose()


def test_parse_snapshot() -> None:
    assert _parse_snapshot("10:15:10,12") == (15, frozenset({10, 12}))
    assert _parse_snapshot("15:15:") == (15, frozenset())
    assert _parse_snapshot("") == (None, frozenset())
