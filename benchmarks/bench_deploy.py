"""Benchmark: a production deploy with nothing to do, ``safemigrate migrate`` against ``alembic upgrade head``.

    python benchmarks/bench_deploy.py [--tables 300] [--revisions 500] [--repeat 5]

On the synthetic project (benchmarks/synthetic.py) and PostgreSQL: a database
upgraded to head with Alembic, then cold processes (each a fresh process),
alternated A/B:

(a) ``alembic upgrade head`` (nothing pending),
(b) ``safemigrate migrate --env production`` (nothing pending) the first time:
    the full preflight, which rebuilds the history on a throwaway database to
    compare the live database with its revision and the models with head, and
    records the proof (runner/proof.py),
(c) the same command again: the proof is reused (inputs and live schema
    unchanged), nothing is rebuilt.

(b) is measured by deleting the recorded proof before each of its runs. Prints
the median of each and the ratios to (a); writes benchmarks/.work/bench_deploy.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
WORK = HERE / ".work"
sys.path.insert(0, str(HERE))

import synthetic  # noqa: E402

SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
BIN = Path(sys.executable).parent
DATABASE = "bench_deploy"


def _env(url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "SAFEMIGRATE_DATABASE_URL", "APP_ENV"}}
    env["DATABASE_URL"] = url
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    return env


def _timed(cmd: list[str], cwd: Path, env: dict[str, str], expect: str = "") -> tuple[float, str]:
    started = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if proc.returncode != 0 or expect not in proc.stdout:
        sys.exit(f"$ {' '.join(cmd)} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
    return elapsed, proc.stdout


def _sql(statement: str, database: str = "postgres") -> None:
    subprocess.run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", database, "-qc", statement],
                   check=True, capture_output=True)


def synthetic_project(prefix: str, tables: int, revisions: int) -> Path:
    """The synthetic project (made once per size), with a local backup folder for production runs."""
    project = synthetic.generate(WORK / f"{prefix}_{tables}t_{revisions}r", tables, revisions, synthetic.DEFAULT_SEED)
    pyproject = project / "pyproject.toml"
    if "[tool.safemigrate.backup]" not in pyproject.read_text():
        pyproject.write_text(pyproject.read_text() + f'\n[tool.safemigrate.backup]\nurl = "{WORK / "backups"}"\n')
    return project


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tables", type=int, default=300)
    parser.add_argument("--revisions", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    project = synthetic_project("deploy", args.tables, args.revisions)
    url = SERVER.rsplit("/", 1)[0] + f"/{DATABASE}"
    env = _env(url)
    _sql(f"DROP DATABASE IF EXISTS {DATABASE}")
    _sql(f"CREATE DATABASE {DATABASE}")
    try:
        _timed([str(BIN / "alembic"), "upgrade", "head"], project, env)
        migrate = [str(BIN / "safemigrate"), "migrate", "--env", "production", "--scratch-url", SERVER]
        _timed(migrate, project, env, "Nothing to apply")  # warm-up: bytecode, ledger backfill
        times: dict[str, list[float]] = {"alembic": [], "full": [], "reused": []}
        for _ in range(args.repeat):
            times["alembic"].append(_timed([str(BIN / "alembic"), "upgrade", "head"], project, env)[0])
            _sql("DELETE FROM safemigrate_schema_proof", DATABASE)
            elapsed, out = _timed(migrate, project, env, "Nothing to apply")
            assert "nothing was rebuilt" not in out
            times["full"].append(elapsed)
            elapsed, out = _timed(migrate, project, env, "nothing was rebuilt")
            times["reused"].append(elapsed)
    finally:
        _sql(f"DROP DATABASE IF EXISTS {DATABASE}")
    medians = {k: statistics.median(v) for k, v in times.items()}
    print(f"{args.tables} tables, {args.revisions} revisions, PostgreSQL, median of {args.repeat} cold runs")
    print(f"  alembic upgrade head (nothing pending)            {medians['alembic']:7.2f} s")
    print(f"  safemigrate migrate, full preflight (first deploy) {medians['full']:7.2f} s   "
          f"ratio {medians['full'] / medians['alembic']:.1f}x")
    print(f"  safemigrate migrate, proof reused                  {medians['reused']:7.2f} s   "
          f"ratio {medians['reused'] / medians['alembic']:.1f}x")
    save("bench_deploy", args, times, medians)


def save(name: str, args: argparse.Namespace, times: dict[str, list[float]], medians: dict[str, float]) -> None:
    """benchmarks/.work/NAME.json: the arguments, every time measured and the medians."""
    WORK.mkdir(exist_ok=True)
    (WORK / f"{name}.json").write_text(json.dumps({"args": vars(args), "times": times, "median": medians}, indent=2))


if __name__ == "__main__":
    main()
