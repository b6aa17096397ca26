"""Benchmark: ``safemigrate rehearse --blocker``: the lock queue behind a long transaction, under each lock_timeout.

    nice python benchmarks/bench_rehearse_blocker.py [--rows 100000] [--blocker-ms 3000] [--server URL]

One PostgreSQL database is built with ``customers`` and ``orders`` (``--rows``) at revision 0001 (the schema of
benchmarks/bench_rehearse.py). Revision 0002 is a naive ``ADD COLUMN`` on ``orders`` (ACCESS EXCLUSIVE, over in
milliseconds when nothing is in its way). For each lock_timeout (none, 1s, 300ms) a TEMPLATE copy is rehearsed
with ``--blocker`` while an *independent writer* (a process of its own, not a probe) inserts into ``orders``:
its longest insert is set beside the writer stall rehearse reports for the statement, attempts, lock waits
included. Done when they agree within 20 % or 20 ms, whichever is larger, and the stall with a lock_timeout is
bounded by it (well under the blocker's hold).

Figures are printed and written to benchmarks/.work/bench_rehearse_blocker.json. Every database it makes is
dropped afterwards, also on failure.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import secrets
import tempfile
from pathlib import Path

from bench_rehearse import FIRST, PG_SERVER, WORK, Server, alembic_upgrade, independent_writer, project, run_sql
from sqlalchemy.engine import make_url

from safemigrate.api import Project
from safemigrate.rehearsal.copies import CopySource

ADD_COLUMN = 'op.add_column("orders", sa.Column("flag", sa.Integer))'
LOCK_TIMEOUTS = ("0", "1s", "300ms")


def scenario(server: Server, base: str, folder: Path, lock_timeout: str, blocker_ms: int) -> dict[str, object]:
    root = project(folder / f"blk_{secrets.token_hex(3)}", FIRST, ADD_COLUMN)
    pyproject = root / "pyproject.toml"
    pyproject.write_text(pyproject.read_text() + f'lock_timeout = "{lock_timeout}"\n')
    copy = server.create(template=make_url(base).database)
    try:
        process, stop, out = independent_writer(copy, folder)
        try:
            report = Project.from_pyproject(root).rehearse(source=CopySource(from_url=copy), blocker_ms=blocker_ms)
        finally:
            stop.write_text("")
            process.wait(timeout=120)
        independent = max((end - start) * 1000 for start, end in json.loads(out.read_text()))
        [row] = [r for r in report.statements if "ADD COLUMN" in r.sql]
        blocker = row.blocker
        assert blocker is not None
        reported = row.writer_stall_ms.max or 0.0
        tolerance = max(20.0, 0.2 * independent)
        figures: dict[str, object] = {
            "lock_timeout": lock_timeout, "statement": row.sql, "attempts": blocker.attempts,
            "lock_waits_ms": blocker.lock_waits_ms, "blocker_held_ms": blocker.held_ms,
            "duration_ms": row.duration_ms, "reported_writer_stall_ms": reported,
            "reported_reader_stall_ms": row.reader_stall_ms.max, "independent_writer_max_ms": round(independent, 1),
            "difference_ms": round(reported - independent, 1), "tolerance_ms": round(tolerance, 1),
            "agrees": abs(reported - independent) <= tolerance,
        }
        print(f"  lock_timeout {lock_timeout:6} attempts {blocker.attempts}  waits {blocker.lock_waits_ms}  "
              f"held {blocker.held_ms:.0f} ms  reported {reported:7.1f} ms  independent {independent:7.1f} ms  "
              f"{'ok' if figures['agrees'] else 'DISAGREES'}", flush=True)
        return figures
    finally:
        server.drop(copy)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000, help="rows in orders")
    parser.add_argument("--blocker-ms", type=int, default=3000, help="how long the blocking session holds orders")
    parser.add_argument("--server", default=PG_SERVER)
    args = parser.parse_args()
    server = Server(args.server)
    results: dict[str, object] = {"machine": f"{platform.machine()}, {os.cpu_count()} cores", "rows": args.rows,
                                  "blocker_ms": args.blocker_ms}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        try:
            base = server.create()
            root = project(folder / "base", FIRST, "pass")
            alembic_upgrade(root, base, "0001")
            run_sql(base, "INSERT INTO customers SELECT g, 'c' || g FROM generate_series(1, 1000) g",
                    f"INSERT INTO orders SELECT g, 1 + g % 1000, g % 1000, md5(g::text) "
                    f"FROM generate_series(1, {args.rows}) g")
            run_sql(base, "ANALYZE")
            print(f"--blocker {args.blocker_ms} ms, a naive ADD COLUMN on {args.rows} orders:", flush=True)
            results["scenarios"] = [scenario(server, base, folder, timeout, args.blocker_ms)
                                    for timeout in LOCK_TIMEOUTS]
        finally:
            server.drop_all()
    WORK.mkdir(exist_ok=True)
    (WORK / "bench_rehearse_blocker.json").write_text(json.dumps(results, indent=2))
    print(f"written to {WORK / 'bench_rehearse_blocker.json'}")


if __name__ == "__main__":
    main()
