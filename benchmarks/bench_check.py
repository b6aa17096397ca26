"""Benchmark: ``safemigrate check`` against plain Alembic, on SQLite and PostgreSQL.

    python benchmarks/bench_check.py [--tables 300] [--revisions 500] [--repeat 3]

Generates a synthetic project (benchmarks/synthetic.py) into benchmarks/.work/
and times cold runs (each a fresh process) of

(a) ``safemigrate check`` in the project folder (on PostgreSQL with
    ``--scratch-url ... --dialect postgresql``; creating and dropping its
    throwaway database is part of its time), and
(b) ``alembic upgrade head`` then ``alembic check`` against a fresh empty
    database ($DATABASE_URL: a new SQLite file, or a PostgreSQL database created
    before and dropped after the timed part).

One untimed warm-up run of each comes first (it also compiles the revision
files' bytecode, which every later run reuses). Runs of (a) and (b) alternate.
Prints the median wall time of each, and safemigrate/alembic; writes the
figures to benchmarks/.work/bench_check.json. Any run that does not exit 0
(or an ``alembic check`` that does not report "No new upgrade operations
detected.") stops the benchmark with its output.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
WORK = HERE / ".work"
sys.path.insert(0, str(HERE))

import synthetic  # noqa: E402

PG_SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
BIN = Path(sys.executable).parent
SAFEMIGRATE = str(BIN / "safemigrate")
ALEMBIC = str(BIN / "alembic")
ALEMBIC_OK = "No new upgrade operations detected."
_URL_VARS = ("DATABASE_URL", "SAFEMIGRATE_DATABASE_URL", "SAFEMIGRATE_SCRATCH_URL")


class RunFailed(SystemExit):
    pass


def _env(database_url: str | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _URL_VARS}
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    if database_url:
        env["DATABASE_URL"] = database_url
    return env


def _run(cmd: list[str], cwd: Path, env: dict[str, str], expect: str | None = None) -> float:
    started = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if proc.returncode != 0 or (expect is not None and expect not in proc.stdout):
        print(f"\n$ {' '.join(cmd)}  (in {cwd}) exited {proc.returncode}", file=sys.stderr)
        print(proc.stdout, file=sys.stderr)
        print(proc.stderr, file=sys.stderr)
        raise RunFailed("the synthetic project is wrong (or a database is unreachable): see the output above")
    return elapsed


# -- backends ---------------------------------------------------------------------------
class SQLite:
    name = "sqlite"

    def __init__(self, project: Path):
        self.project = project
        self.count = 0

    def safemigrate_cmd(self) -> list[str]:
        return [SAFEMIGRATE, "check"]

    def new_database(self) -> str:
        self.count += 1
        path = WORK / f"alembic_{os.getpid()}_{self.count}.db"
        path.unlink(missing_ok=True)
        self._path = path
        return f"sqlite:///{path}"

    def drop_database(self) -> None:
        self._path.unlink(missing_ok=True)

    def close(self) -> None:
        pass


class PostgreSQL:
    name = "postgresql"

    def __init__(self, project: Path, server: str):
        import sqlalchemy as sa

        self.project = project
        self.server = server
        self.engine = sa.create_engine(server, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
        self.count = 0
        with self.engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))

    def safemigrate_cmd(self) -> list[str]:
        return [SAFEMIGRATE, "check", "--scratch-url", self.server, "--dialect", "postgresql"]

    def new_database(self) -> str:
        import sqlalchemy as sa

        self.count += 1
        self._name = f"bench_alembic_{os.getpid()}_{self.count}"
        with self.engine.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{self._name}" WITH (FORCE)'))
            conn.execute(sa.text(f'CREATE DATABASE "{self._name}"'))
        return sa.make_url(self.server).set(database=self._name).render_as_string(hide_password=False)

    def drop_database(self) -> None:
        import sqlalchemy as sa

        with self.engine.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{self._name}" WITH (FORCE)'))

    def close(self) -> None:
        self.engine.dispose()


# -- timing -------------------------------------------------------------------------------
def time_safemigrate(backend) -> float:
    return _run(backend.safemigrate_cmd(), backend.project, _env())


def time_alembic(backend) -> tuple[float, float]:
    url = backend.new_database()  # not timed
    try:
        env = _env(url)
        upgrade = _run([ALEMBIC, "upgrade", "head"], backend.project, env)
        check = _run([ALEMBIC, "check"], backend.project, env, expect=ALEMBIC_OK)
    finally:
        backend.drop_database()  # not timed
    return upgrade, check


def bench(backend, repeat: int) -> dict:
    print(f"[{backend.name}] warm-up ...", file=sys.stderr, flush=True)
    time_safemigrate(backend)
    time_alembic(backend)
    sm_runs: list[float] = []
    up_runs: list[float] = []
    ck_runs: list[float] = []
    for i in range(repeat):
        print(f"[{backend.name}] run {i + 1}/{repeat} ...", file=sys.stderr, flush=True)
        sm_runs.append(time_safemigrate(backend))
        up, ck = time_alembic(backend)
        up_runs.append(up)
        ck_runs.append(ck)
    al_runs = [u + c for u, c in zip(up_runs, ck_runs, strict=True)]
    sm, al = statistics.median(sm_runs), statistics.median(al_runs)
    return {
        "backend": backend.name,
        "safemigrate_s": round(sm, 3),
        "alembic_s": round(al, 3),
        "ratio": round(sm / al, 3),
        "safemigrate_runs_s": [round(x, 3) for x in sm_runs],
        "alembic_runs_s": [round(x, 3) for x in al_runs],
        "alembic_upgrade_runs_s": [round(x, 3) for x in up_runs],
        "alembic_check_runs_s": [round(x, 3) for x in ck_runs],
    }


def _versions() -> dict[str, str]:
    from importlib.metadata import version

    return {pkg: version(pkg) for pkg in ("safemigrate", "alembic", "SQLAlchemy", "psycopg")}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tables", type=int, default=300)
    parser.add_argument("--revisions", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=synthetic.DEFAULT_SEED)
    parser.add_argument("--backends", default="sqlite,postgresql", help="comma-separated: sqlite, postgresql")
    parser.add_argument("--pg-server", default=PG_SERVER, help="PostgreSQL server URL (its database: to connect)")
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")

    missing = [exe for exe in (SAFEMIGRATE, ALEMBIC) if not Path(exe).is_file()]
    if missing:
        parser.error(f"{', '.join(missing)} not found: run this with the project's venv python (.venv/bin/python)")
    WORK.mkdir(exist_ok=True)
    project = synthetic.generate(WORK / f"synth_{args.tables}t_{args.revisions}r", args.tables, args.revisions,
                                 args.seed)
    print(f"project: {project} ({args.tables} tables, {args.revisions} revisions)", file=sys.stderr)

    results = []
    for name in [b.strip() for b in args.backends.split(",") if b.strip()]:
        if name == "sqlite":
            backend = SQLite(project)
        elif name == "postgresql":
            backend = PostgreSQL(project, args.pg_server)
        else:
            parser.error(f"unknown backend {name!r}")
        try:
            results.append(bench(backend, args.repeat))
        finally:
            backend.close()

    header = f"{'backend':<12} {'safemigrate s':>14} {'alembic s':>10} {'ratio':>7}"
    lines = [f"{args.tables} tables, {args.revisions} revisions, median of {args.repeat} cold run(s)",
             header, "-" * len(header)]
    lines += [f"{r['backend']:<12} {r['safemigrate_s']:>14.2f} {r['alembic_s']:>10.2f} {r['ratio']:>7.2f}"
              for r in results]
    print("\n".join(lines))

    report = {
        "tables": args.tables, "revisions": args.revisions, "repeat": args.repeat, "seed": args.seed,
        "target_ratio": 1.1,
        "python": platform.python_version(), "platform": platform.platform(), "versions": _versions(),
        "results": results,
    }
    out = WORK / "bench_check.json"
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
