"""Fill a column's empty rows in small batches, each its own transaction: no long lock, resumable.

One ``UPDATE`` over a large table holds row locks on every row until it
commits, and a revision's transaction would hold them longer still. The
revisions safemigrate writes for a column with a volatile default
(``gen_random_uuid()``, ``random()``...) add the column empty, set the default
for new rows, and then call :func:`backfill` inside an ``autocommit_block``::

    with op.get_context().autocommit_block():
        if not op.get_context().as_sql:
            backfill(op.get_bind(), "orders", "token", "gen_random_uuid()")

It walks the table in primary-key order (keyset: each batch is the next
``batch_size`` keys after the last one, found through the key's index), and
updates those of them whose column is still NULL, one transaction per batch,
pausing between batches so that replication and vacuum keep up. A batch that
hits ``lock_timeout`` is retried. Killed half way, it is simply run again:
rows already filled are not touched twice. It works on PostgreSQL; the
connection must be in autocommit mode (as inside ``autocommit_block``), or
the batches would all be one transaction.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import OperationalError
from sqlalchemy.sql.elements import TextClause

from safemigrate.core.errors import UsageError

#: SQLSTATE of a lock wait cut short by ``lock_timeout``
_LOCK_NOT_AVAILABLE = "55P03"
_PRIMARY_KEY = ("SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid "
                "AND a.attnum = ANY (i.indkey) WHERE i.indrelid = to_regclass(:table) AND i.indisprimary")


@dataclass(frozen=True)
class BackfillResult:
    """What one call did: rows filled, batches committed, time spent (pauses included)."""

    table: str
    column: str
    rows: int
    batches: int
    seconds: float


def backfill(connection: Connection, table: str, column: str, expression: str, *, schema: str | None = None,
             key: str | None = None, batch_size: int = 1000, pause: float = 0.05, retries: int = 5) -> BackfillResult:
    """``UPDATE table SET column = expression WHERE column IS NULL``, ``batch_size`` rows at a time.

    ``expression`` is SQL (the column's default, e.g. ``gen_random_uuid()``), evaluated for each row.
    ``key`` is a single-column primary key (read from the catalog when not given). Each batch commits on its
    own; ``pause`` seconds pass between batches; a batch that waits longer than ``lock_timeout`` is retried
    up to ``retries`` times, with a growing pause.
    """
    if batch_size < 1:
        raise UsageError(f"batch_size must be at least 1, not {batch_size}.",
                         "A batch is the number of rows one transaction fills.", "Pass batch_size=1000.")
    if connection.get_execution_options().get("isolation_level") != "AUTOCOMMIT":
        raise UsageError(f"The backfill of {table}.{column} needs a connection in autocommit mode.",
                         "Inside a transaction every batch would wait for the last one to commit, holding the "
                         "row locks of the whole table until then.",
                         "Call it inside `with op.get_context().autocommit_block():`.")
    preparer = connection.dialect.identifier_preparer
    relation = f"{preparer.quote_schema(schema)}.{preparer.quote(table)}" if schema else preparer.quote(table)
    key = key or _primary_key(connection, relation, table)
    quoted_key, quoted_column = preparer.quote(key), preparer.quote(column)
    order = f"ORDER BY {quoted_key} LIMIT :size) AS batch"
    first_batch = text(f"SELECT max(k) FROM (SELECT {quoted_key} AS k FROM {relation} {order}")
    next_batch = text(f"SELECT max(k) FROM (SELECT {quoted_key} AS k FROM {relation} WHERE {quoted_key} > :after "
                      f"{order}")
    fill_first = text(f"UPDATE {relation} SET {quoted_column} = {expression} "
                      f"WHERE {quoted_key} <= :last AND {quoted_column} IS NULL")
    fill_next = text(f"UPDATE {relation} SET {quoted_column} = {expression} "
                     f"WHERE {quoted_key} > :after AND {quoted_key} <= :last AND {quoted_column} IS NULL")
    started = time.monotonic()
    rows = batches = 0
    after: object = None
    while True:
        if after is None:
            last = connection.execute(first_batch, {"size": batch_size}).scalar()
        else:
            last = connection.execute(next_batch, {"after": after, "size": batch_size}).scalar()
        if last is None:
            break
        statement, params = (fill_first, {"last": last}) if after is None else (fill_next, {"after": after,
                                                                                             "last": last})
        rows += _fill(connection, statement, params, retries, pause)
        batches += 1
        after = last
        if pause:
            time.sleep(pause)
    return BackfillResult(table, column, rows, batches, time.monotonic() - started)


def _primary_key(connection: Connection, relation: str, table: str) -> str:
    columns = [row[0] for row in connection.execute(text(_PRIMARY_KEY), {"table": relation})]
    if len(columns) != 1:
        raise UsageError(f"Table {table} has {'no' if not columns else 'a composite'} primary key.",
                         "The backfill walks the table in the order of a single-column key, so that each batch "
                         "is found through its index and a rerun starts where it can.",
                         "Pass key='<a unique, indexed, NOT NULL column>'.")
    return str(columns[0])


def _fill(connection: Connection, statement: TextClause, params: dict[str, object], retries: int,
          pause: float) -> int:
    """One batch, its own transaction (autocommit); retried when it waited longer than ``lock_timeout``."""
    for attempt in range(retries + 1):
        try:
            return int(connection.execute(statement, params).rowcount)
        except OperationalError as exc:
            if getattr(exc.orig, "sqlstate", None) != _LOCK_NOT_AVAILABLE or attempt == retries:
                raise
            time.sleep(max(pause, 0.05) * 2 ** attempt)
    raise AssertionError("unreachable")
