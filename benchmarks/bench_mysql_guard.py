"""Benchmark: what the MariaDB run-time guard costs on large tables, beside ``alembic upgrade``.

    python benchmarks/bench_mysql_guard.py [--rows 100000,1000000] [--repeat 3] [--server URL]

On MySQL/MariaDB the guard reads the schema and the row counts of every base
table when a revision starts, after its body, and once more from a second
connection (safemigrate.guard.enforce.mysql_effects). Until 2026-12-01 the
counts were exact ``COUNT(*)``: a full index scan of each table, three times
per revision. Now they stop at ``ROW_CAP + 1`` rows (the effects only ask
whether a table that held rows was emptied).

For each size, one database holds three tables of that many rows (MariaDB's
Sequence engine fills them server-side). The script times, median of
``--repeat`` runs:

(a) one exact ``COUNT(*)`` of every table, as the guard did before, and the
    bounded probe it does now (the same UNION ALL round trip);
(b) ``safemigrate.guard.enforce.mysql_effects.snapshot`` (one of the three
    reads a revision pays);
(c) whole processes, alternated: ``alembic upgrade head`` (the anchor) and
    ``safemigrate migrate --env development`` (the guard on, no backup) of
    a one-revision project that adds a nullable column to one of the large
    tables (instant on MariaDB), each followed by ``alembic downgrade base``.

It prints one table and writes benchmarks/.work/bench_mysql_guard.json. The
database is dropped afterwards, also on failure.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "benchmarks" / ".work"
BIN = Path(sys.executable).parent
SERVER = os.environ.get("SAFEMIGRATE_TEST_MYSQL_URL", "mysql+pymysql://root@127.0.0.1:3306/mysql")
TABLES = ("orders", "events", "customers")
EXACT = " UNION ALL ".join(f"SELECT '{t}', COUNT(*) FROM `{t}`" for t in TABLES)  # what the guard did before

REVISION = '''"""add a nullable note to orders"""
from alembic import op
import sqlalchemy as sa

revision = "b1"
down_revision = None


def upgrade():
    op.add_column("orders", sa.Column("note", sa.String(50), nullable=True))


def downgrade():
    op.drop_column("orders", "note")
'''


def _project(folder: Path) -> Path:
    (folder / "migrations" / "versions").mkdir(parents=True)
    (folder / "migrations" / "versions" / "b1_note.py").write_text(REVISION)
    (folder / "migrations" / "script.py.mako").write_text("")
    (folder / "migrations" / "env.py").write_text(
        "import os\nfrom alembic import context\nfrom sqlalchemy import create_engine\n"
        "engine = create_engine(os.environ['DATABASE_URL'])\n"
        "with engine.connect() as connection:\n"
        "    context.configure(connection=connection, target_metadata=None)\n"
        "    with context.begin_transaction():\n"
        "        context.run_migrations()\n")
    (folder / "alembic.ini").write_text("[alembic]\nscript_location = migrations\n")
    (folder / "benchmodels.py").write_text(
        "import sqlalchemy as sa\nmetadata = sa.MetaData()\n"
        + "".join(f"sa.Table({t!r}, metadata, sa.Column('id', sa.BigInteger, primary_key=True, autoincrement=False),"
                  f" sa.Column('v', sa.String(40))" + (", sa.Column('note', sa.String(50))" if t == "orders" else "")
                  + ")\n" for t in TABLES))
    (folder / "pyproject.toml").write_text(
        '[tool.safemigrate]\nscript_location = "migrations"\nmetadata = "benchmodels:metadata"\n')
    return folder


def _median(run, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def _process(argv: list[str], cwd: Path, url: str) -> float:
    env = {k: v for k, v in os.environ.items() if k not in {"SAFEMIGRATE_DATABASE_URL", "APP_ENV"}}
    env["DATABASE_URL"] = url
    started = time.perf_counter()
    done = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True)
    took = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed:\n{done.stdout}\n{done.stderr}")
    return took


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", default="100000,1000000", help="rows per table, comma-separated sizes")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--server", default=SERVER)
    args = parser.parse_args(argv)
    from safemigrate.guard.enforce.mysql_effects import ROW_CAP, count_rows, snapshot

    name = f"bench_guard_{secrets.token_hex(4)}"
    server = sa.create_engine(args.server, poolclass=sa.pool.NullPool)
    url = sa.make_url(args.server).set(database=name).render_as_string(hide_password=False)
    results = []
    with server.connect() as conn:
        conn.execute(sa.text(f"CREATE DATABASE `{name}`"))
    try:
        engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
        with tempfile.TemporaryDirectory() as tmp:
            project = _project(Path(tmp))
            for size in (int(s) for s in args.rows.split(",")):
                with engine.begin() as conn:
                    for table in TABLES:
                        conn.execute(sa.text(f"DROP TABLE IF EXISTS `{table}`"))
                        conn.execute(sa.text(f"CREATE TABLE `{table}` (id BIGINT PRIMARY KEY, v VARCHAR(40)) "
                                             "ENGINE=InnoDB"))
                        conn.execute(sa.text(f"INSERT INTO `{table}` SELECT seq, MD5(seq) FROM seq_1_to_{size}"))
                with engine.connect() as conn:
                    conn.execute(sa.text(EXACT)).all()  # warm the buffer pool once
                    t_exact = _median(lambda c=conn: c.execute(sa.text(EXACT)).all(), args.repeat)
                    t_bounded = _median(lambda c=conn: count_rows(c, list(TABLES)), args.repeat)
                    t_snapshot = _median(lambda c=conn: snapshot(c), args.repeat)
                    conn.rollback()
                alembic, ours = [], []
                for _ in range(args.repeat):
                    alembic.append(_process([str(BIN / "alembic"), "upgrade", "head"], project, url))
                    _process([str(BIN / "alembic"), "downgrade", "base"], project, url)
                    ours.append(_process([str(BIN / "safemigrate"), "migrate", "--env", "development",
                                          "--database-url", url], project, url))
                    _process([str(BIN / "alembic"), "downgrade", "base"], project, url)
                row = {"rows_per_table": size, "tables": len(TABLES), "exact_count_s": t_exact,
                       "bounded_count_s": t_bounded, "snapshot_s": t_snapshot,
                       "alembic_upgrade_s": statistics.median(alembic),
                       "safemigrate_migrate_s": statistics.median(ours)}
                results.append(row)
                print(f"{size:>10} rows x {len(TABLES)}: exact COUNT(*) {t_exact * 1000:8.1f} ms, bounded "
                      f"(cap {ROW_CAP}) {t_bounded * 1000:6.1f} ms, snapshot {t_snapshot * 1000:6.1f} ms; "
                      f"alembic upgrade {row['alembic_upgrade_s']:.2f} s, safemigrate migrate "
                      f"{row['safemigrate_migrate_s']:.2f} s (ratio "
                      f"{row['safemigrate_migrate_s'] / row['alembic_upgrade_s']:.1f}x)", flush=True)
    finally:
        with server.connect() as conn:
            conn.execute(sa.text(f"DROP DATABASE IF EXISTS `{name}`"))
        server.dispose()
    WORK.mkdir(exist_ok=True)
    (WORK / "bench_mysql_guard.json").write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
