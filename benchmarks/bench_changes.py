"""The write stall of each expand–contract step vs. the one-step naive change (docs/PERFORMANCE.md).

    nice python benchmarks/bench_changes.py --rows 2000000

Creates a database of its own with ``bench_rows`` (N rows, filled with
``generate_series``) and a copy ``bench_naive``, in a small Alembic project
written to a temporary folder. A writer process (``benchmarks/stall.py``)
runs short transactions the whole time on the table under change, alternately
an INSERT and an UPDATE of a random row. For three changes (rename-column,
change-type, set-not-null), ``safemigrate change`` writes the revisions, and
each step is timed while the writer runs: the expand revision (``alembic
upgrade``, a process of its own, as a deploy runs it), the backfill (the
library call), the contract revision. Then the naive one-step form of the same
change runs on ``bench_naive`` (``RENAME COLUMN``, ``ALTER COLUMN ... TYPE``,
``SET NOT NULL``). The figure is the writer's longest transaction in each
window, with its p99.

For each backfill it also says where the writer's slow transactions (over
25 ms) came from: an UPDATE of a row inside the batch that was running at the
time (it waited for that batch's row lock), or anything else (an INSERT, a row
outside the batch: I/O, WAL, the machine); with the slowest batch, and what the
server did meanwhile (checkpoints, WAL written, buffers a backend had to write
itself: ``pg_stat_bgwriter``, ``pg_stat_wal``).
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from importlib import resources
from pathlib import Path

import sqlalchemy as sa

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from stall import Stall, Writer  # noqa: E402

from safemigrate.api import Project  # noqa: E402
from safemigrate.changes import backfill, write_change  # noqa: E402
from safemigrate.changes.lifecycle import PAUSE_S, TARGET_BATCH_MS  # noqa: E402

SERVER = os.environ.get("SAFEMIGRATE_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
DATABASE = f"safemigrate_bench_changes_{os.getpid()}"
TARGET_MS = 50.0

FIRST = '''"""bench tables"""
import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade():
    for name in ("bench_rows", "bench_naive"):
        op.create_table(name, sa.Column("id", sa.BigInteger, primary_key=True),
                        sa.Column("email", sa.String(255), nullable=False, server_default=""),
                        sa.Column("amount", sa.Integer, nullable=True, server_default="0"),
                        sa.Column("note", sa.Text, nullable=True))


def downgrade():
    pass
'''
MODELS = "import sqlalchemy as sa\n\nmetadata = sa.MetaData()\n"
INSERT = "INSERT INTO {table} (note) VALUES ('written')"  # columns every shape has (email: its default)
UPDATE = "UPDATE {table} SET note = 'updated' WHERE id = %(id)s"
CHANGES = [  # kind, arguments of write_change, the naive one-step form on bench_naive
    ("rename-column", {"column": "email", "new_column": "email_address"},
     "ALTER TABLE bench_naive RENAME COLUMN email TO email_address"),
    ("change-type", {"column": "amount", "new_column": "amount_usd", "new_type": "numeric(12,2)",
                     "using": "amount::numeric(12,2) / 100", "down": "(amount_usd * 100)::integer"},
     "ALTER TABLE bench_naive ALTER COLUMN amount TYPE numeric(12,2) USING amount::numeric(12,2) / 100"),
    ("set-not-null", {"column": "note", "fill": "''"},
     "UPDATE bench_naive SET note = '' WHERE note IS NULL; ALTER TABLE bench_naive ALTER COLUMN note SET NOT NULL"),
]


def project(root: Path) -> Path:
    (root / "benchapp").mkdir(parents=True)
    (root / "benchapp" / "__init__.py").write_text("")
    (root / "benchapp" / "models.py").write_text(MODELS)
    (root / "pyproject.toml").write_text('[tool.safemigrate]\nmetadata = "benchapp.models:metadata"\n')
    templates = resources.files("safemigrate") / "templates"
    versions = root / "migrations" / "versions"
    versions.mkdir(parents=True)
    (root / "migrations" / "env.py").write_text(templates.joinpath("env.py").read_text())
    (root / "migrations" / "script.py.mako").write_text(templates.joinpath("script.py.mako").read_text())
    (root / "alembic.ini").write_text(templates.joinpath("alembic.ini").read_text()
                                      .replace("{script_location}", "migrations"))
    (versions / "0001_bench.py").write_text(FIRST)
    return root


def alembic(root: Path, url: str, target: str) -> None:
    exe = Path(sys.executable).with_name("alembic")
    done = subprocess.run([str(exe), "upgrade", target], cwd=root, env={**os.environ, "DATABASE_URL": url},
                          capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(done.stderr)


FAILED: list[str] = []


def run(url: str, statement: str) -> None:
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:  # one transaction, as one revision would run it
            for part in statement.split("; "):
                conn.execute(sa.text(part))
    except sa.exc.OperationalError as exc:  # a deadlock with the writer: the naive form's own hazard, reported
        FAILED.append(f"{statement[:60]}...: {str(exc.orig).splitlines()[0]}")
    finally:
        engine.dispose()


SLOW_MS = 25.0
_SERVER_STATS = ("SELECT checkpoints_timed + checkpoints_req, buffers_backend, buffers_checkpoint "
                 "FROM pg_stat_bgwriter", "SELECT wal_bytes, wal_buffers_full, wal_sync FROM pg_stat_wal")


def server_stats(url: str) -> list[float]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return [float(v) for query in _SERVER_STATS for v in conn.execute(sa.text(query)).one()]
    finally:
        engine.dispose()


def diagnose(kind: str, stall: Stall, batches: list[tuple[float, object]], started: float, slowest_batch: float,
             before: list[float], after: list[float], pause_s: float) -> str:
    """Which slow writer transactions waited for a row of the batch running at the time, and which did not."""
    windows = []  # (began, ended, first key exclusive, last key inclusive)
    previous_end, previous_key = started, None
    for ended, key in batches:
        windows.append((previous_end + (pause_s if previous_key is not None else 0.0), ended, previous_key, key))
        previous_end, previous_key = ended, key
    in_batch: list[float] = []
    other: list[tuple[float, int]] = []
    for began, ended, index, row in stall.slowest:
        ms = (ended - began) * 1000
        if ms < SLOW_MS:
            continue
        hit = index == 1 and any(b <= ended and e >= began and (low is None or row > low) and row <= high
                                 for b, e, low, high in windows)
        if hit:
            in_batch.append(ms)
        else:
            other.append((ms, index))
    delta = [a - b for a, b in zip(after, before, strict=True)]
    return (f"{kind} backfill: of the {len(in_batch) + len(other)} writer transactions over {SLOW_MS:.0f} ms "
            f"(among the {len(stall.slowest)} slowest), {len(in_batch)} updated a row of the batch running then "
            f"(longest {max(in_batch, default=0):.1f} ms), {len(other)} did not (longest "
            f"{max((m for m, _ in other), default=0):.1f} ms; {sum(1 for _, i in other if i == 0)} inserts); "
            f"{len(batches)} batches, slowest {slowest_batch:.0f} ms; meanwhile {delta[0]:.0f} checkpoint(s), "
            f"{delta[3] / 1e6:.0f} MB of WAL ({delta[4]:.0f} times wal_buffers full, {delta[5]:.0f} syncs), "
            f"{delta[1]:.0f} buffers written by backends, {delta[2]:.0f} by checkpoints")


def timed(writer: Writer, step) -> tuple[Stall, float]:
    with writer.window() as window:
        step()
    return window.stall, window.seconds


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--target-ms", type=float, default=TARGET_BATCH_MS, help="the backfill's batch duration target")
    args = parser.parse_args()
    server = sa.make_url(SERVER)
    admin = sa.create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{DATABASE}"'))
    url = server.set(database=DATABASE).render_as_string(hide_password=False)
    results: list[tuple[str, str, Stall, float]] = []
    diagnoses: list[str] = []
    try:
        with tempfile.TemporaryDirectory() as folder:
            root = project(Path(folder) / "bench")
            alembic(root, url, "head")
            engine = sa.create_engine(url)
            with engine.begin() as conn:
                for table in ("bench_rows", "bench_naive"):
                    conn.execute(sa.text(f"INSERT INTO {table} (email, amount, note) SELECT 'u' || g, g, "
                                         f"CASE WHEN g % 10 = 0 THEN NULL ELSE 'n' END "
                                         f"FROM generate_series(1, {args.rows}) g"))
            engine.dispose()
            vacuum = sa.create_engine(url, isolation_level="AUTOCOMMIT")
            with vacuum.connect() as conn:
                conn.execute(sa.text("VACUUM ANALYZE"))
            vacuum.dispose()
            os.environ["DATABASE_URL"] = url
            for kind, options, naive in CHANGES:
                written = write_change(Project.from_pyproject(root, database_url=url), kind, "bench_rows",
                                       **options)  # type: ignore[arg-type]
                with Writer(url, "bench_rows", insert=INSERT.format(table="bench_rows"),
                            update=UPDATE.format(table="bench_rows"), ids=args.rows) as writer:
                    idle, _ = timed(writer, lambda: time.sleep(2))
                    results.append((kind, "(writer alone, 2 s)", idle, 2.0))
                    stall, seconds = timed(writer, lambda w=written: alembic(root, url, w.expand_revision))
                    results.append((kind, "expand revision", stall, seconds))
                    batches: list[tuple[float, object]] = []
                    done: list = []
                    before = server_stats(url)
                    started = time.monotonic()
                    stall, seconds = timed(writer, lambda w=written, d=done, b=batches: d.append(backfill(
                        Project.from_pyproject(root, database_url=url), w.name, target_ms=args.target_ms,
                        on_batch=lambda _, key, b=b: b.append((time.monotonic(), key)))))
                    results.append((kind, "backfill", stall, seconds))
                    diagnoses.append(diagnose(kind, stall, batches, started, done[0].slowest_batch_ms, before,
                                              server_stats(url), PAUSE_S))
                    stall, seconds = timed(writer, lambda: alembic(root, url, "heads"))
                    results.append((kind, "contract revision", stall, seconds))
                with Writer(url, "bench_naive", insert=INSERT.format(table="bench_naive"),
                            update=UPDATE.format(table="bench_naive"), ids=args.rows) as writer:
                    stall, seconds = timed(writer, lambda statement=naive: run(url, statement))
                    results.append((kind, "naive one step", stall, seconds))
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)'))
        admin.dispose()
    print(f"{args.rows} rows, PostgreSQL at {server.host}, {platform.machine()}, {os.cpu_count()} cores; "
          f"backfill batches under {args.target_ms:.0f} ms; "
          f"target: every expand–contract step under {TARGET_MS:.0f} ms")
    print("| change | step | longest stall | p99 | took |")
    print("|---|---|---|---|---|")
    for kind, step, stall, seconds in results:
        mark = "**" if step not in ("naive one step", "(writer alone, 2 s)") else ""
        print(f"| {kind} | {step} | {mark}{stall.longest_ms:.1f} ms{mark} | {stall.p99_ms:.1f} ms | "
              f"{seconds:.2f} s |" + (f" {stall.errors} failed" if stall.errors else ""))
    for failure in FAILED:
        print(f"naive step failed: {failure}")
    for line in diagnoses:
        print(f"- {line}")


if __name__ == "__main__":
    main()
