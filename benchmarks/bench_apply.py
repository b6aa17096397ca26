"""Benchmark: applying every revision to a new database, ``safemigrate migrate`` against ``alembic upgrade head``.

    python benchmarks/bench_apply.py [--tables 300] [--revisions 500] [--repeat 2] [--env development]

On the synthetic project (benchmarks/synthetic.py) and PostgreSQL, cold
processes alternated A/B, each on a database created empty just before it:

(a) ``alembic upgrade head`` (every revision pending),
(b) ``safemigrate migrate --env development`` (the same; then the comparison
    with the models that development runs after applying), or with
    ``--env production`` the whole production path (preflight on a throwaway
    database, verified backup, guarded apply).

Prints the median of each and the ratio to (a); writes benchmarks/.work/bench_apply.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench_deploy import BIN, SERVER, WORK, _env, _sql, _timed, synthetic_project  # noqa: E402

DATABASE = "bench_apply"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tables", type=int, default=300)
    parser.add_argument("--revisions", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--env", dest="environment", default="development", choices=("development", "production"))
    args = parser.parse_args()
    project = synthetic_project("apply", args.tables, args.revisions)
    url = SERVER.rsplit("/", 1)[0] + f"/{DATABASE}"
    env = _env(url)
    migrate = [str(BIN / "safemigrate"), "migrate", "--env", args.environment, "--scratch-url", SERVER]
    times: dict[str, list[float]] = {"alembic": [], "safemigrate": []}
    try:
        for _ in range(args.repeat):
            for name, command, expect in (("alembic", [str(BIN / "alembic"), "upgrade", "head"], ""),
                                          ("safemigrate", migrate, "applied")):
                _sql(f"DROP DATABASE IF EXISTS {DATABASE}")
                _sql(f"CREATE DATABASE {DATABASE}")
                times[name].append(_timed(command, project, env, expect)[0])
    finally:
        _sql(f"DROP DATABASE IF EXISTS {DATABASE}")
    medians = {k: statistics.median(v) for k, v in times.items()}
    print(f"{args.tables} tables, {args.revisions} revisions pending, PostgreSQL, median of {args.repeat} cold runs")
    print(f"  alembic upgrade head                      {medians['alembic']:7.2f} s")
    print(f"  safemigrate migrate --env {args.environment:<12}    {medians['safemigrate']:7.2f} s   "
          f"ratio {medians['safemigrate'] / medians['alembic']:.1f}x")
    WORK.mkdir(exist_ok=True)
    (WORK / f"bench_apply_{args.environment}.json").write_text(
        json.dumps({"args": vars(args), "times": times, "median": medians}, indent=2))


if __name__ == "__main__":
    main()
