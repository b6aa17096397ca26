"""A gate in the revision's own transaction that makes every commit fail until the guard has judged it.

A revision can commit behind the guard's back: ``COMMIT`` through a raw
cursor, the driver's ``commit()``, libpq, ``COMMIT AND CHAIN``, a
multi-statement string. None of them pass a hook safemigrate could refuse.
So each transaction of a guarded revision carries a deferred constraint
trigger on a temporary table of the session (``ENABLE ALWAYS``, so
``session_replication_role`` does not silence it): at commit, PostgreSQL
runs it, and it raises while the gate is armed, which rolls the whole
transaction back. Only the guard disarms it, in SQLAlchemy's ``commit`` event,
after its last check. The table is ``ON COMMIT DROP``: each transaction arms a
gate of its own, and a transaction that ended any other way leaves none
behind, which the guard reads as "the revision's transaction ended early".

What this cannot stop: code of the revision that finds the gate (a temporary
table of its own session) and disarms it by hand. That is in-process code
acting against safemigrate deliberately; the catalog check before the commit
still runs.
"""

from __future__ import annotations

import secrets
from typing import Any

from sqlalchemy.engine import Connection

from safemigrate.guard.enforce.pg_snapshot import pinned, rows


class CommitGate:
    """The gate of one env.py process (one name per process, so a revision cannot know it in advance)."""

    def __init__(self) -> None:
        token = secrets.token_hex(6)
        self.table = f"pg_temp.safemigrate_gate_{token}"
        self.function = f"pg_temp.safemigrate_gate_{token}"
        self.available = True  # False once the role turned out unable to create temporary objects
        self._tried = False  # the first arm tells whether the role can; later ones need no savepoint

    def arm(self, connection: Connection) -> int:
        """Arm the gate in ``connection``'s current transaction; returns the transaction's id.

        A role without the TEMP privilege gets no gate (``available`` turns False): the transaction's id is
        still compared before the commit, which tells that it ended early, not whether something committed.
        Only the first arm of the process tries inside a savepoint (a savepoint that writes takes a
        transaction id of its own, which the guard's next reading cannot tell from another transaction's, see
        pg_snapshot.read); once it worked, the role can, and a later failure fails the revision.
        """
        with pinned(connection) as cursor:
            if self.available and self._tried:
                self._create(cursor)
            elif self.available:
                self._tried = True
                cursor.execute("SAVEPOINT safemigrate_gate")
                try:
                    self._create(cursor)
                except Exception:
                    cursor.execute("ROLLBACK TO SAVEPOINT safemigrate_gate")
                    self.available = False
                cursor.execute("RELEASE SAVEPOINT safemigrate_gate")
            return int(rows(cursor, "SELECT pg_catalog.txid_current()")[0][0])

    def _create(self, cursor: Any) -> None:
        cursor.execute(f"CREATE TEMPORARY TABLE {self.table.split('.', 1)[1]} (armed boolean) ON COMMIT DROP")
        cursor.execute(
            f"CREATE OR REPLACE FUNCTION {self.function}() RETURNS trigger LANGUAGE plpgsql AS $gate$ BEGIN "
            f"IF EXISTS (SELECT 1 FROM {self.table}) THEN RAISE EXCEPTION USING ERRCODE = 'P0001', MESSAGE = "
            "'safemigrate refused a COMMIT sent past SQLAlchemy (SQL, the driver or libpq) in a revision''s "
            "transaction before its checks ran: everything the revision did is rolled back. Let Alembic commit "
            "each revision; for a statement that must run outside a transaction, use "
            "op.get_context().autocommit_block().'; END IF; RETURN NULL; END $gate$")
        cursor.execute(f"CREATE CONSTRAINT TRIGGER gate AFTER INSERT ON {self.table} DEFERRABLE INITIALLY "
                       f"DEFERRED FOR EACH ROW EXECUTE PROCEDURE {self.function}()")
        cursor.execute(f"ALTER TABLE {self.table} ENABLE ALWAYS TRIGGER gate")
        cursor.execute(f"INSERT INTO {self.table} VALUES (true)")

    def armed_in(self, connection: Connection) -> int | None:
        """The id of the transaction the gate is armed in, when it is armed in the current one."""
        with pinned(connection) as cursor:
            found = rows(cursor, f"SELECT pg_catalog.to_regclass('{self.table}') IS NOT NULL, "
                                 "pg_catalog.txid_current_if_assigned()")[0]
            if not self.available:
                return int(found[1]) if found[1] is not None else None
            if not found[0] or found[1] is None:
                return None
            if not rows(cursor, f"SELECT EXISTS (SELECT 1 FROM {self.table})")[0][0]:
                return None
            return int(found[1])

    def disarm(self, connection: Connection) -> None:
        """Let the current transaction commit (the guard has checked it)."""
        if not self.available:
            return
        with pinned(connection) as cursor:
            cursor.execute(f"DELETE FROM {self.table}")
