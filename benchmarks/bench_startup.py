"""Benchmark: the start-up guard (require_current_revision / require_current_schema) on PostgreSQL.

    python benchmarks/bench_startup.py [--tables 300] [--revisions 500] [--repeat 50]

Generates the synthetic project (benchmarks/synthetic.py) into
benchmarks/.work/, creates a fresh PostgreSQL database, upgrades it to head
with ``alembic upgrade head``, then, for each guard, runs fresh processes that
do what an application does at start: import SQLAlchemy and its models, create
its Engine, ``import safemigrate``; then time

* the first call (the lazy import of safemigrate.startup included), with a
  cold heads cache (no .safemigrate/heads.json) and with a warm one;
* the median of ``--repeat`` further calls in the same process.

Each figure is given for a call with the application's Engine and with its URL
string (which also pays for create_engine and the driver import). Prints the
figures and whether each is under 50 ms, writes benchmarks/.work/bench_startup.json,
and drops the database.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
WORK = HERE / ".work"
sys.path.insert(0, str(HERE))

TARGET_MS = 50.0
PG_SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
BIN = Path(sys.executable).parent


def child(kind: str, arg: str, url: str, repeat: int) -> None:
    """One application start, in the project folder; prints its timings as JSON."""
    started = time.perf_counter()
    sys.path.insert(0, os.getcwd())
    import sqlalchemy as sa
    import synth.models  # noqa: F401 - the application's own import, before it calls the guard

    engine = sa.create_engine(url)  # the application's engine (not yet connected)
    app_imports = time.perf_counter() - started
    import safemigrate

    target = engine if arg == "engine" else url
    t0 = time.perf_counter()
    guard = getattr(safemigrate, f"require_current_{kind}")
    guard(target, ".")
    first = time.perf_counter() - t0
    runs = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        guard(target, ".")
        runs.append(time.perf_counter() - t0)
    alembic_loaded = any(name == "alembic" or name.startswith("alembic.") for name in sys.modules)
    print(json.dumps({"app_imports_ms": app_imports * 1000, "first_ms": first * 1000,
                      "median_ms": statistics.median(runs) * 1000, "alembic_imported": alembic_loaded}))


def _run_child(project: Path, kind: str, arg: str, url: str, repeat: int) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "SAFEMIGRATE_DATABASE_URL"}}
    env["XDG_CACHE_HOME"] = str(WORK / "startup_user_cache")  # never the user's own cache
    proc = subprocess.run([sys.executable, __file__, "--child", kind, arg, url, str(repeat)], cwd=project,
                          env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        print(proc.stdout, proc.stderr, file=sys.stderr)
        raise SystemExit(f"the {kind} guard failed on an up-to-date database: see above")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _clear_cache(project: Path) -> None:
    shutil.rmtree(project / ".safemigrate", ignore_errors=True)
    shutil.rmtree(WORK / "startup_user_cache", ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tables", type=int, default=300)
    parser.add_argument("--revisions", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=50)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--pg-server", default=PG_SERVER, help="PostgreSQL server URL (its database: to connect)")
    parser.add_argument("--child", nargs=4, metavar=("KIND", "ARG", "URL", "REPEAT"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        kind, arg, url, repeat = args.child
        child(kind, arg, url, int(repeat))
        return 0

    import sqlalchemy as sa
    import synthetic

    WORK.mkdir(exist_ok=True)
    seed = args.seed if args.seed is not None else synthetic.DEFAULT_SEED
    project = synthetic.generate(WORK / f"startup_synth_{args.tables}t_{args.revisions}r", args.tables,
                                 args.revisions, seed)
    print(f"project: {project} ({args.tables} tables, {args.revisions} revisions)", file=sys.stderr)
    server = sa.create_engine(args.pg_server, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    name = f"bench_startup_{os.getpid()}"
    url = sa.make_url(args.pg_server).set(database=name).render_as_string(hide_password=False)
    results: dict[str, dict] = {}
    try:
        with server.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        print("upgrading to head ...", file=sys.stderr, flush=True)
        env = {**os.environ, "DATABASE_URL": url}
        up = subprocess.run([str(BIN / "alembic"), "upgrade", "head"], cwd=project, env=env,
                            capture_output=True, text=True)
        if up.returncode != 0:
            print(up.stderr, file=sys.stderr)
            raise SystemExit("alembic upgrade head failed")
        # compile the models' and revisions' bytecode once, as a deployed application would have it
        subprocess.run([sys.executable, "-m", "compileall", "-q", str(project)], check=True)
        for kind in ("revision", "schema"):
            for arg in ("engine", "url"):
                _clear_cache(project)
                cold = _run_child(project, kind, arg, url, args.repeat)
                warm = _run_child(project, kind, arg, url, args.repeat)
                results[f"{kind}/{arg}"] = {"cold_first_ms": round(cold["first_ms"], 1),
                                            "warm_first_ms": round(warm["first_ms"], 1),
                                            "repeated_median_ms": round(warm["median_ms"], 2),
                                            "app_imports_ms": round(warm["app_imports_ms"], 1),
                                            "alembic_imported": cold["alembic_imported"] or warm["alembic_imported"]}
                print(f"  {kind}/{arg}: done", file=sys.stderr, flush=True)
    finally:
        with server.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        server.dispose()
        _clear_cache(project)

    def mark(ms: float) -> str:
        return f"{ms:8.1f} {'ok' if ms < TARGET_MS else 'SLOW':>4}"

    header = f"{'guard/argument':<18} {'cold first ms':>13} {'warm first ms':>13} {'median ms':>13}"
    lines = [f"{args.tables} tables, {args.revisions} revisions, PostgreSQL; target < {TARGET_MS:.0f} ms; "
             f"median of {args.repeat} repeated calls", header, "-" * len(header)]
    for label, r in results.items():
        lines.append(f"{label:<18} {mark(r['cold_first_ms'])} {mark(r['warm_first_ms'])} "
                     f"{mark(r['repeated_median_ms'])}")
    app = statistics.median(r["app_imports_ms"] for r in results.values())
    lines.append(f"(not counted: the application's own imports of SQLAlchemy and {args.tables} models, "
                 f"~{app:.0f} ms; Alembic imported by the guard: "
                 f"{'yes' if any(r['alembic_imported'] for r in results.values()) else 'no'})")
    print("\n".join(lines))
    report = {"tables": args.tables, "revisions": args.revisions, "repeat": args.repeat, "seed": seed,
              "target_ms": TARGET_MS, "python": platform.python_version(), "platform": platform.platform(),
              "results": results}
    out = WORK / "bench_startup.json"
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
