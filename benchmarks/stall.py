"""A concurrent writer for benchmarks: how long were writes stalled while something else ran?

    from stall import Writer

    with Writer(url, "orders", insert="INSERT INTO orders (note) VALUES (%(tag)s)",
                update="UPDATE orders SET n = n + 1 WHERE id = %(id)s", ids=200_000) as writer:
        with writer.window() as window:
            run_the_migration()
        print(window.stall.longest_ms, window.stall.p99_ms)

The writer is a process of its own (no GIL shared with the code under test)
with one PostgreSQL connection. In a tight loop it runs short transactions,
alternately the INSERT and the UPDATE (``%(id)s``: a random id in
``1..ids``; ``%(tag)s``: a string unique to each INSERT), and records when
each began and ended. A window's figures cover every transaction that was
running at some moment inside the window (one blocked since before it
counts, and one blocked at its end is waited for), so a lock held by the
code under test shows up as that transaction's latency, however the lock
was queued. The clock is ``time.monotonic``, which on Linux is the same in
every process.
"""

from __future__ import annotations

import math
import multiprocessing
import os
import random
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

_READY_TIMEOUT = 30.0


@dataclass(frozen=True)
class Stall:
    """The writer's transactions during one window."""

    transactions: int
    longest_ms: float
    p99_ms: float
    median_ms: float
    errors: int  # transactions that failed (a lock_timeout of the writer's own, a deadlock): none expected
    #: the longest transactions, each (began, ended, statement index, id): what waited, and on which row
    slowest: list[tuple[float, float, int, int]] = field(default_factory=list)

    def __str__(self) -> str:
        return (f"longest {self.longest_ms:.1f} ms, p99 {self.p99_ms:.1f} ms, median {self.median_ms:.2f} ms "
                f"over {self.transactions} transactions" + (f", {self.errors} failed" if self.errors else ""))


class Window:
    """Filled when its ``with`` block ends."""

    def __init__(self) -> None:
        self.started = time.monotonic()
        self.ended: float | None = None
        self._stall: Stall | None = None

    @property
    def stall(self) -> Stall:
        assert self._stall is not None, "the window is still open"
        return self._stall

    @property
    def seconds(self) -> float:
        assert self.ended is not None, "the window is still open"
        return self.ended - self.started


class Writer:
    """A writer process on ``url`` (a libpq or SQLAlchemy URL) for the duration of a ``with`` block."""

    def __init__(self, url: str, table: str, *, insert: str | None = None, update: str | None = None,
                 ids: int = 1, seed: int = 0) -> None:
        self.url = _libpq(url)
        self.statements = [s for s in (insert, update) if s]
        if not self.statements:
            self.statements = [f"UPDATE {table} SET id = id WHERE id = %(id)s"]
        self.ids = ids
        self.seed = seed
        self._pipe: Connection | None = None
        self._process: multiprocessing.Process | None = None

    def __enter__(self) -> Writer:
        context = multiprocessing.get_context("spawn")  # no inherited connections or threads
        ours, theirs = context.Pipe()
        self._process = context.Process(target=_write, args=(theirs, self.url, self.statements, self.ids, self.seed),
                                        daemon=True)
        self._process.start()
        self._pipe = ours
        if not ours.poll(_READY_TIMEOUT):
            raise RuntimeError("the writer did not start")
        message = ours.recv()
        if message != "ready":
            raise RuntimeError(f"the writer failed: {message}")
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._pipe is not None and self._process is not None
        self._pipe.send(("stop",))
        self._process.join(timeout=60)
        if self._process.is_alive():
            self._process.kill()

    @contextmanager
    def window(self) -> Iterator[Window]:
        """The writer's figures for the time spent inside the block."""
        window = Window()
        try:
            yield window
        finally:
            window.ended = time.monotonic()
            window._stall = self.stall_between(window.started, window.ended)

    def stall_between(self, started: float, ended: float) -> Stall:
        assert self._pipe is not None
        self._pipe.send(("report", started, ended))
        reply = self._pipe.recv()
        if isinstance(reply, str):
            raise RuntimeError(f"the writer failed: {reply}")
        return Stall(**reply)


def _libpq(url: str) -> str:
    """``postgresql+psycopg://...`` (SQLAlchemy) as ``postgresql://...`` (libpq)."""
    scheme, sep, rest = url.partition("://")
    return f"{scheme.split('+', 1)[0]}{sep}{rest}"


def _percentile(values: list[float], fraction: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(fraction * len(ordered)) - 1))]


_SLOWEST = 20


def _report(records: list[tuple[float, float, bool, int, int]], started: float, ended: float) -> dict[str, Any]:
    kept = [r for r in records if r[1] >= started and r[0] <= ended]
    latencies = [(end - begin) * 1000 for begin, end, *_ in kept]
    slowest = sorted(kept, key=lambda r: r[0] - r[1])[:_SLOWEST]
    return {"transactions": len(kept), "longest_ms": max(latencies, default=0.0),
            "p99_ms": _percentile(latencies, 0.99), "median_ms": _percentile(latencies, 0.5),
            "errors": sum(not r[2] for r in kept),
            "slowest": [(begin, end, index, row) for begin, end, _, index, row in slowest]}


def _write(pipe: Connection, url: str, statements: list[str], ids: int, seed: int) -> None:
    import psycopg

    rng = random.Random(seed)
    records: list[tuple[float, float, bool, int, int]] = []
    count = 0
    try:
        conn = psycopg.connect(url, autocommit=False)
    except Exception as exc:  # reported to the parent, which raises it
        pipe.send(f"{type(exc).__name__}: {exc}")
        return
    pipe.send("ready")
    with conn:
        while True:
            if pipe.poll():
                message = pipe.recv()
                if message[0] == "stop":
                    return
                _, started, ended = message
                pipe.send(_report(records, started, ended))
                records = [r for r in records if r[1] >= ended]  # windows come in order
            index = count % len(statements)
            sql = statements[index]
            count += 1
            params = {"id": rng.randint(1, ids), "tag": f"w{os.getpid()}-{count}"}
            begin = time.monotonic()
            ok = True
            try:
                conn.execute(sql, params)
                conn.commit()
            except psycopg.Error:
                conn.rollback()
                ok = False
            records.append((begin, time.monotonic(), ok, index, params["id"] if "%(id)s" in sql else 0))
