"""Benchmark: ``safemigrate status`` against ``alembic current`` (issue #16: at most 1.2x).

    python benchmarks/bench_status.py [--tables 300] [--revisions 500] [--repeat 5]

On the synthetic project (benchmarks/synthetic.py) and PostgreSQL, a database
upgraded to head with Alembic; cold processes (each a fresh process),
alternated A/B:

(a) ``alembic current``,
(b) ``safemigrate status --env production`` (environment, revision, heads,
    pending revisions and the drift verdict it can give without a rebuild).

Prints the median of each and the ratio; writes benchmarks/.work/bench_status.json.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench_deploy import BIN, SERVER, _env, _sql, _timed, save, synthetic_project  # noqa: E402

DATABASE = "bench_status"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tables", type=int, default=300)
    parser.add_argument("--revisions", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    project = synthetic_project("deploy", args.tables, args.revisions)
    env = _env(SERVER.rsplit("/", 1)[0] + f"/{DATABASE}")
    _sql(f"DROP DATABASE IF EXISTS {DATABASE}")
    _sql(f"CREATE DATABASE {DATABASE}")
    commands = {"alembic": ([str(BIN / "alembic"), "current"], "(head)"),
                "safemigrate": ([str(BIN / "safemigrate"), "status", "--env", "production"], "")}
    try:
        _timed([str(BIN / "alembic"), "upgrade", "head"], project, env)
        for command, expect in commands.values():  # warm-up: bytecode
            _timed(command, project, env, expect)
        times: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(args.repeat):
            for name, (command, expect) in commands.items():
                times[name].append(_timed(command, project, env, expect)[0])
    finally:
        _sql(f"DROP DATABASE IF EXISTS {DATABASE}")
    medians = {k: statistics.median(v) for k, v in times.items()}
    print(f"{args.tables} tables, {args.revisions} revisions, PostgreSQL, at head, median of {args.repeat} cold runs")
    print(f"  alembic current                        {medians['alembic']:7.2f} s")
    print(f"  safemigrate status --env production    {medians['safemigrate']:7.2f} s   "
          f"ratio {medians['safemigrate'] / medians['alembic']:.1f}x")
    save("bench_status", args, times, medians)


if __name__ == "__main__":
    main()
