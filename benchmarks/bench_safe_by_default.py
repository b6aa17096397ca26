"""Benchmark: the longest write stall of each operation safemigrate rewrites, naive form vs generated form.

    nice python benchmarks/bench_safe_by_default.py --rows 200000
    nice python benchmarks/bench_safe_by_default.py --rows 2000000

On PostgreSQL ($SAFEMIGRATE_TEST_POSTGRES_URL's server, default
127.0.0.1:5432 as postgres) it creates a database of its own (dropped at
the end) with ``bench_rows`` (``--rows`` rows, filled with generate_series)
and ``bench_parent`` (1,000 rows). A writer process (benchmarks/stall.py)
runs short transactions on ``bench_rows`` the whole time, alternately an
INSERT and an UPDATE of a random row. For each operation that
``safemigrate.schema.safe_ops`` rewrites, as autogenerate writes it from a
model change:

- add index      ``CreateIndexOp`` on ``bench_rows.parent_id``
- add FK         ``CreateForeignKeyOp`` ``bench_rows.parent_id`` -> ``bench_parent.id``
- set NOT NULL   ``AlterColumnOp(nullable=False)`` on ``bench_rows.note`` (every row filled)
- add unique     ``CreateUniqueConstraintOp`` on ``bench_rows.code``

it renders the naive form (Alembic's code as autogenerate writes it) and the
generated form (the same operations after ``rewrite_for("postgresql", ...)``)
to Python with Alembic's renderer, runs each in a transaction of Alembic's
``MigrationContext`` (as ``alembic upgrade`` does: the revision's
transaction, committed at the end, and the generated form's
``autocommit_block``\\ s), and reports the writer's longest and p99
transaction latency during the run. The operation is undone between runs,
outside the measured window. No ``lock_timeout`` is set for either form:
the figures are the stall itself, not the runner's policy cutting it short.

Prints a table (and writes benchmarks/.work/bench_safe_by_default-<rows>.json).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import op
from alembic.autogenerate import render_python_code
from alembic.operations import Operations
from alembic.operations import ops as alembic_ops
from alembic.runtime.migration import MigrationContext

HERE = Path(__file__).resolve().parent
WORK = HERE / ".work"
sys.path.insert(0, str(HERE))

from stall import Stall, Writer  # noqa: E402

from safemigrate import allow  # noqa: E402
from safemigrate.schema.safe_ops import rewrite_for  # noqa: E402

SERVER = os.environ.get("SAFEMIGRATE_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
DATABASE = f"safemigrate_bench_sbd_{os.getpid()}"
PARENTS = 1000
TARGET_MS = 50.0

SCHEMA = [
    "CREATE TABLE bench_parent (id bigint PRIMARY KEY)",
    f"INSERT INTO bench_parent SELECT g FROM generate_series(1, {PARENTS}) g",
    "CREATE TABLE bench_rows (id bigserial PRIMARY KEY, parent_id bigint, code text, note text, "
    "counter integer NOT NULL DEFAULT 0)",
]
INSERT = ("INSERT INTO bench_rows (parent_id, code, note) "
          f"VALUES (mod(%(id)s, {PARENTS}) + 1, %(tag)s, 'written')")
UPDATE = "UPDATE bench_rows SET counter = counter + 1 WHERE id = %(id)s"


def _operations() -> dict[str, tuple[Callable[[], alembic_ops.MigrateOperation], list[str]]]:
    """Each operation as autogenerate writes it, and the SQL that undoes it (outside the window)."""
    return {
        "add index": (lambda: alembic_ops.CreateIndexOp("ix_bench_rows_parent_id", "bench_rows", ["parent_id"]),
                      ["DROP INDEX IF EXISTS ix_bench_rows_parent_id"]),
        "add FK": (lambda: alembic_ops.CreateForeignKeyOp("fk_bench_rows_parent_id_bench_parent", "bench_rows",
                                                          "bench_parent", ["parent_id"], ["id"]),
                   ["ALTER TABLE bench_rows DROP CONSTRAINT IF EXISTS fk_bench_rows_parent_id_bench_parent"]),
        "set NOT NULL": (lambda: alembic_ops.AlterColumnOp("bench_rows", "note", existing_type=sa.Text(),
                                                           existing_nullable=True, modify_nullable=False),
                         ["ALTER TABLE bench_rows ALTER COLUMN note DROP NOT NULL",
                          "ALTER TABLE bench_rows DROP CONSTRAINT IF EXISTS ck_bench_rows_note_not_null"]),
        "add unique": (lambda: alembic_ops.CreateUniqueConstraintOp("uq_bench_rows_code", "bench_rows", ["code"]),
                       ["ALTER TABLE bench_rows DROP CONSTRAINT IF EXISTS uq_bench_rows_code",
                        "DROP INDEX IF EXISTS uq_bench_rows_code"]),
    }


def _code(op: alembic_ops.MigrateOperation, *, generated: bool) -> str:
    upgrade = alembic_ops.UpgradeOps(ops=[alembic_ops.ModifyTableOps("bench_rows", [op])])
    if generated:
        assert rewrite_for("postgresql", upgrade, alembic_ops.DowngradeOps(ops=[])) == 1
    return render_python_code(upgrade)


def _run_revision(engine: sa.Engine, code: str) -> None:
    """``code`` as the body of a revision's ``upgrade()``, run as ``alembic upgrade`` runs it."""
    namespace: dict[str, Any] = {"op": op, "sa": sa, "allow": allow}
    exec(compile("def upgrade():\n" + code, "<revision>", "exec"), namespace)  # the rendered revision body
    with engine.connect() as conn:
        context = MigrationContext.configure(connection=conn)
        with Operations.context(context), context.begin_transaction():
            namespace["upgrade"]()
        conn.commit()


def _execute(engine: sa.Engine, *statements: str) -> None:
    with engine.connect() as conn:
        for statement in statements:
            conn.exec_driver_sql(statement)
        conn.commit()


def _fill(engine: sa.Engine, rows: int) -> float:
    started = time.perf_counter()
    _execute(engine, *SCHEMA,
             "INSERT INTO bench_rows (parent_id, code, note) "
             f"SELECT mod(g, {PARENTS}) + 1, 'c' || g, 'n' || mod(g, 97) FROM generate_series(1, {rows}) g")
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("VACUUM ANALYZE bench_rows")
    return time.perf_counter() - started


def bench(rows: int) -> dict[str, dict[str, Any]]:
    admin = sa.create_engine(SERVER, poolclass=sa.pool.NullPool, isolation_level="AUTOCOMMIT")
    url = sa.engine.make_url(SERVER).set(database=DATABASE)
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
        conn.exec_driver_sql(f'CREATE DATABASE "{DATABASE}"')
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    results: dict[str, dict[str, Any]] = {}
    try:
        print(f"filled {rows:,} rows in {_fill(engine, rows):.1f} s", file=sys.stderr)
        with Writer(url.render_as_string(hide_password=False), "bench_rows", insert=INSERT, update=UPDATE,
                    ids=rows) as writer:
            with writer.window() as idle:
                time.sleep(2.0)
            print(f"writer alone: {idle.stall}", file=sys.stderr)
            results["(writer alone)"] = {"idle": _figures(idle.stall, idle.seconds)}
            for name, (make, undo) in _operations().items():
                results[name] = {}
                for form in ("naive", "generated"):
                    code = _code(make(), generated=form == "generated")
                    time.sleep(1.0)  # the writer settles after the undo
                    with writer.window() as window:
                        _run_revision(engine, code)
                    results[name][form] = _figures(window.stall, window.seconds)
                    print(f"{name:13} {form:9} {window.seconds:6.2f} s  {window.stall}", file=sys.stderr)
                    _execute(engine, *undo)
    finally:
        engine.dispose()
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
        admin.dispose()
    return results


def _figures(stall: Stall, seconds: float) -> dict[str, Any]:
    return {"seconds": round(seconds, 3), "longest_ms": round(stall.longest_ms, 1), "p99_ms": round(stall.p99_ms, 1),
            "median_ms": round(stall.median_ms, 2), "transactions": stall.transactions, "errors": stall.errors}


def _table(rows: int, results: dict[str, dict[str, Any]]) -> str:
    lines = [f"rows: {rows:,}",
             "| operation | naive: run | naive: longest stall | naive: p99 | generated: run | "
             "generated: longest stall | generated: p99 | naive/generated | generated < 50 ms |",
             "|---|---|---|---|---|---|---|---|---|"]
    for name, forms in results.items():
        if "naive" not in forms:
            continue
        naive, safe = forms["naive"], forms["generated"]
        ratio = naive["longest_ms"] / safe["longest_ms"] if safe["longest_ms"] else float("inf")
        lines.append(f"| {name} | {naive['seconds']:.2f} s | {naive['longest_ms']:.0f} ms | {naive['p99_ms']:.0f} ms"
                     f" | {safe['seconds']:.2f} s | {safe['longest_ms']:.1f} ms | {safe['p99_ms']:.1f} ms"
                     f" | {ratio:.0f}x | {'yes' if safe['longest_ms'] < TARGET_MS else 'NO'} |")
    idle = results["(writer alone)"]["idle"]
    lines.append(f"writer alone (no operation, 2 s): longest {idle['longest_ms']} ms, p99 {idle['p99_ms']} ms, "
                 f"median {idle['median_ms']} ms")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rows", type=int, default=200_000)
    args = parser.parse_args()
    results = bench(args.rows)
    print(_table(args.rows, results))
    WORK.mkdir(exist_ok=True)
    meta = {"rows": args.rows, "postgresql": _server_version(), "python": platform.python_version(),
            "measured": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
    (WORK / f"bench_safe_by_default-{args.rows}.json").write_text(json.dumps({**meta, "results": results},
                                                                               indent=2))


def _server_version() -> str:
    engine = sa.create_engine(SERVER, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            return str(conn.exec_driver_sql("SHOW server_version").scalar())
    finally:
        engine.dispose()


if __name__ == "__main__":
    main()
