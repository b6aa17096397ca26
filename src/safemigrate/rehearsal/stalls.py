"""Which statement stalled which probe sample, and the stall each statement caused.

A probe sample blocked by a lock lasts until that lock is released, which for a statement in a
transaction is when its transaction ends, possibly after later statements ran. So a sample is charged
to the *first* statement that held a lock conflicting with the probe's on the probe's table while the
sample ran (a sample blocked by a CREATE INDEX stays blocked through the rest of the revision: it is the
CREATE INDEX's stall, not the version bump's). A statement sent outside a transaction (CONCURRENTLY, an
autocommit block) holds its locks only while it runs; its locks are not read, so any sample that ran
while it did is charged to it. A sample no lock explains is charged to the statement it started during:
it is the latency the application had then.

With ``--blocker``, an attempt of a statement that queued behind the blocking session until lock_timeout
was undone, so none of the final run's statements covers its window: :func:`queued` charges the samples on
the blocked tables during those attempts to the statement, which is what the application felt because of it.

A statement's stall is that of its worst table (the one with the longest wait): its max and its p99 are
the same table's, so a p99 is not diluted by the probes of tables the statement never touched.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from safemigrate.harness.blocker import BlockerHeld
from safemigrate.harness.measure import MeasuredStatement
from safemigrate.rehearsal.probes import ProbeKind, Sample

#: The lock modes that block each probe (PostgreSQL's table-level lock conflicts).
BLOCKS: dict[ProbeKind, frozenset[str]] = {
    "writer": frozenset({"ShareLock", "ShareRowExclusiveLock", "ExclusiveLock", "AccessExclusiveLock"}),
    "reader": frozenset({"AccessExclusiveLock"}),
}


@dataclass(frozen=True)
class Stall:
    """The latency one kind of probe saw while a statement held its locks, in milliseconds."""

    max: float | None  # None: no sample fell in its window (a statement shorter than a probe's pause)
    p99: float | None
    samples: int
    table: str | None = None  # the table the longest wait was on

    @classmethod
    def of(cls, per_table: dict[str, list[float]]) -> Stall:
        """The stall on the worst table of ``per_table`` (latencies in ms)."""
        filled = {table: sorted(latencies) for table, latencies in per_table.items() if latencies}
        if not filled:
            return cls(None, None, 0)
        table, ordered = max(filled.items(), key=lambda item: item[1][-1])
        p99 = ordered[max(0, math.ceil(0.99 * len(ordered)) - 1)]
        return cls(round(ordered[-1], 1), round(p99, 1), len(ordered), table)


def _blocks(statement: MeasuredStatement, sample: Sample) -> bool:
    if not statement.in_transaction:
        return True  # its locks are not read: it may have held any of them while it ran
    modes = BLOCKS[sample.kind]
    return any(lock.relation == sample.table and lock.mode in modes for lock in statement.locks)


def _held_until(statement: MeasuredStatement) -> float:
    return statement.released if statement.released is not None else statement.ended


Charged = dict[int, dict[ProbeKind, dict[str, list[float]]]]


def charge(statements: list[MeasuredStatement], samples: list[Sample]) -> Charged:
    """Latencies (ms) per statement index, probe kind and table."""
    charged: Charged = {i: {"writer": {}, "reader": {}} for i in range(len(statements))}
    for sample in samples:
        index = next((i for i, s in enumerate(statements)
                      if s.started <= sample.ended and _held_until(s) >= sample.started and _blocks(s, sample)),
                     None)
        if index is None:
            index = next((i for i, s in enumerate(statements) if s.started <= sample.started <= s.ended), None)
        if index is not None:
            charged[index][sample.kind].setdefault(sample.table, []).append(sample.latency_ms)
    return charged


def queued(held: BlockerHeld, samples: list[Sample],
           per_kind: dict[ProbeKind, dict[str, list[float]]]) -> dict[ProbeKind, dict[str, list[float]]]:
    """``per_kind`` plus the samples on the blocker's tables that ran while an earlier attempt of the statement
    queued behind it until lock_timeout (no statement of the final run explains those: the attempt was undone)."""
    if not held.failures:
        return per_kind
    merged: dict[ProbeKind, dict[str, list[float]]] = {kind: {t: list(v) for t, v in tables.items()}
                                                       for kind, tables in per_kind.items()}
    for sample in samples:
        if sample.table in held.tables and any(sample.started <= ended and sample.ended >= started
                                               for started, ended, _ in held.failures):
            merged[sample.kind].setdefault(sample.table, []).append(sample.latency_ms)
    return merged
