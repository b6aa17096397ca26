"""Benchmark: safemigrate's linter against squawk-cli, on the same captured PostgreSQL SQL.

    python benchmarks/bench_lint.py [--tables 300] [--revisions 500] [--repeat 5] [--risky-tail 20]

Needs a PostgreSQL server (--pg-server, default postgres@127.0.0.1:5432) and
squawk in the venv (``.venv/bin/pip install squawk-cli``: the wheel ships the
``squawk`` binary).

Two data sets:

* ``synthetic``: the project of benchmarks/synthetic.py (300 tables, 500
  revisions by default) generated into benchmarks/.work/lint_synth_*/, then
  post-processed: ``--risky-tail N`` revisions are appended after its head,
  each doing one thing a linter should flag (drop/rename a column or table,
  change a type, SET NOT NULL, a volatile default, TRUNCATE, DELETE without
  WHERE...) or should not (CREATE INDEX CONCURRENTLY in an autocommit block).
  The generator itself is unchanged; the synthetic history alone only adds
  tables, columns, indexes, unique constraints and foreign keys.
* ``shop``: examples/shop (11 revisions with real findings).

For each, the SQL every revision really sends is captured on PostgreSQL
(``Project.review("base:heads")`` against a throwaway database; not timed)
and written one file per revision, benchmarks/.work/lint_sql/NNNN_<rev>.sql
(shop: lint_sql_shop/): the non-bookkeeping statements, each ending ";\\n",
with DBAPI placeholders replaced by NULL (as safemigrate's own parser does),
and statements of an Alembic autocommit block between "COMMIT;" and "BEGIN;"
(which is what Alembic does around them; with --assume-in-transaction squawk
reports those two markers as transaction-nesting / ban-uncommitted-transaction:
an artefact of the one-file-per-revision layout, not of the migration). The
captured runs are also pickled (benchmarks/.work/lint_runs_<set>.pickle).

Timed, median of --repeat runs after one untimed warm-up, runs alternating:

(a) in-process: ``lint_runs(runs, dialect="postgresql", pg_version=15,
    lock_timeout_set=False, declared={}, root=...)`` on the captured runs
    (rules already imported by the warm-up);
(b) cold: a fresh ``python -c`` that unpickles the runs and lints them
    (interpreter start, safemigrate + pglast imports included);
(c) ``squawk --pg-version 15 --assume-in-transaction --reporter json`` over
    all the files in one process (its exit code 1, "violations found", is
    expected).

Prints the times and safemigrate/squawk (target <= 1.0), then the findings
per rule side by side (SQUAWK_EQUIVALENT maps our rule ids to squawk's), and
writes everything to benchmarks/.work/bench_lint.json. ``--profile`` adds a
cProfile of lint_runs on the synthetic set (top cumulative entries).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pickle
import platform
import pstats
import random
import shutil
import statistics
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
WORK = HERE / ".work"
sys.path.insert(0, str(HERE))

import synthetic  # noqa: E402

PG_SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
PG_VERSION = 15
BIN = Path(sys.executable).parent
SHOP = REPO / "examples" / "shop"

# Our rule id -> the closest squawk rule (squawk 2.x names; `squawk` has no
# --list-rules: see https://squawkhq.com/docs/rules). None: squawk has no
# counterpart. Ids not registered in this build are kept so that the table
# shows what squawk finds where we have no rule yet.
SQUAWK_EQUIVALENT: dict[str, str | None] = {
    "add-index-non-concurrently": "require-concurrent-index-creation",
    "concurrently-in-transaction": "ban-concurrent-index-creation-in-transaction",
    "drop-index-non-concurrently": "require-concurrent-index-deletion",
    "drop-index": "ban-drop-index",
    "add-foreign-key-without-not-valid": "adding-foreign-key-constraint",
    "add-constraint-without-not-valid": "constraint-missing-not-valid",
    "add-check-without-not-valid": "constraint-missing-not-valid",
    "add-unique-or-primary-key-without-index": "disallowed-unique-constraint",
    "change-column-type-may-rewrite": "changing-column-type",
    "enum-add-value": "ban-add-enum-value",
    "reindex-non-concurrently": "require-concurrent-reindex",
    "vacuum-full-or-cluster": None,
    "set-not-null": "adding-not-nullable-field",
    "add-column-not-null-without-default": "adding-required-field",
    "change-column-type": "changing-column-type",
    "narrow-column-type": "changing-column-type",
    "add-column-volatile-default": "adding-field-with-default",
    "missing-lock-timeout": "require-lock-timeout",
    "missing-statement-timeout": "require-statement-timeout",
    "prefer-jsonb": None,
    "prefer-bigint": "prefer-bigint-over-int",
    "prefer-identity": "prefer-identity",
    "prefer-text": "prefer-text-field",
    "prefer-timestamptz": "prefer-timestamp-tz",
    "drop-column": "ban-drop-column",
    "drop-table": "ban-drop-table",
    "drop-constraint": "ban-drop-constraint",
    "drop-schema-or-database": "ban-drop-schema",
    "drop-cascade": None,
    "drop-not-null": "ban-drop-not-null",
    "rename-column": "renaming-column",
    "rename-table": "renaming-table",
    "drop-enum-value-or-rename": "renaming-object",
    "truncate": "ban-truncate-cascade",
    "delete-without-where": None,
    "update-without-where": None,
    "unparsable-statement": "syntax-error",
}

COLD_CODE = f"""\
import pickle, sys
from pathlib import Path
from safemigrate.guard.lint import lint_runs
with open(sys.argv[1], "rb") as fh:
    runs = pickle.load(fh)
findings = lint_runs(runs, dialect="postgresql", pg_version={PG_VERSION}, lock_timeout_set=False, declared={{}},
                     root=Path(sys.argv[2]))
print(len(findings))
"""


class BenchFailed(SystemExit):
    pass


def find_squawk() -> str | None:
    path = f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"
    return shutil.which("squawk", path=path)


# -- the synthetic project's risky tail ------------------------------------------------
def _risky_ops(schema: list[synthetic.Table], rng: random.Random) -> list[tuple[str, str, list[str]]]:
    """(slug, message, upgrade body lines) for each risky revision, each on a table of its own."""
    referenced = {c.ref for t in schema for c in t.columns if c.kind == "fk"}
    used: set[str] = set()

    def indexed(t: synthetic.Table) -> set[str]:
        cols = {c.name for c in t.columns if c.index or c.unique}
        cols.update(c for _, cs in t.indexes for c in cs)
        cols.update(c for cs in t.uniques for c in cs)
        return cols

    def pick(table_ok=lambda t: True, col_ok=None):
        tables = [t for t in schema if t.name not in used and table_ok(t)]
        rng.shuffle(tables)
        for t in tables:
            if col_ok is None:
                used.add(t.name)
                return t, None
            cols = [c for c in t.columns if col_ok(t, c)]
            if cols:
                used.add(t.name)
                return t, rng.choice(cols)
        raise BenchFailed("the synthetic schema has no table for a risky revision: use more tables")

    def plain(t, c):
        return c.kind != "fk" and c.name not in indexed(t)

    q = repr
    ops: list[tuple[str, str, list[str]]] = []
    t, c = pick(col_ok=plain)
    ops.append(("drop_column", f"drop {t.name}.{c.name}", [f"    op.drop_column({q(t.name)}, {q(c.name)})"]))
    t, c = pick(col_ok=plain)
    ops.append(("rename_column", f"rename {t.name}.{c.name}",
                [f"    op.alter_column({q(t.name)}, {q(c.name)}, new_column_name={q(c.name + '_old')})"]))
    t, _ = pick()
    ops.append(("rename_table", f"rename {t.name}", [f"    op.rename_table({q(t.name)}, {q(t.name + '_v2')})"]))
    t, c = pick(col_ok=lambda t, c: c.kind == "int")
    ops.append(("widen_type", f"{t.name}.{c.name} to bigint",
                [f"    op.alter_column({q(t.name)}, {q(c.name)}, type_=sa.BigInteger(), existing_type=sa.Integer())"]))
    t, c = pick(col_ok=lambda t, c: c.kind == "str" and (c.length or 0) >= 20 and plain(t, c))
    ops.append(("narrow_type", f"{t.name}.{c.name} to varchar(10)",
                [f"    op.alter_column({q(t.name)}, {q(c.name)}, type_=sa.String(10), "
                 f"existing_type=sa.String({c.length}))"]))
    t, c = pick(col_ok=lambda t, c: c.nullable and c.kind != "fk")
    ops.append(("set_not_null", f"{t.name}.{c.name} NOT NULL",
                [f"    op.alter_column({q(t.name)}, {q(c.name)}, nullable=False, "
                 f"existing_type={synthetic._migration_type(c)})"]))
    t, c = pick(col_ok=lambda t, c: not c.nullable and c.kind != "fk" and c.default is None)
    ops.append(("drop_not_null", f"{t.name}.{c.name} NULL",
                [f"    op.alter_column({q(t.name)}, {q(c.name)}, nullable=True, "
                 f"existing_type={synthetic._migration_type(c)})"]))
    t, _ = pick()
    ops.append(("volatile_default", f"{t.name}: add token uuid default gen_random_uuid()",
                [f"    op.add_column({q(t.name)}, sa.Column('token', sa.Uuid(), "
                 "server_default=sa.text('gen_random_uuid()'), nullable=False))"]))
    t, _ = pick()
    ops.append(("add_json", f"{t.name}: add extra json",
                [f"    op.add_column({q(t.name)}, sa.Column('extra', sa.JSON(), nullable=True))"]))
    t, _ = pick()
    ops.append(("add_required", f"{t.name}: add tenant_id NOT NULL without default",
                [f"    op.add_column({q(t.name)}, sa.Column('tenant_id', sa.BigInteger(), nullable=False))"]))
    t, c = pick(col_ok=lambda t, c: c.index)
    ops.append(("drop_index", f"drop index on {t.name}.{c.name}",
                [f"    op.drop_index({q(synthetic.ix_name(t.name, [c.name]))}, table_name={q(t.name)})"]))
    t, c = pick(col_ok=lambda t, c: c.unique)
    ops.append(("drop_unique", f"drop unique on {t.name}.{c.name}",
                [f"    op.drop_constraint({q(synthetic.uq_name(t.name, [c.name]))}, {q(t.name)}, type_='unique')"]))
    t, c = pick(col_ok=lambda t, c: c.kind == "int")
    ops.append(("add_check", f"check {t.name}.{c.name} >= 0",
                [f"    op.create_check_constraint({q('ck_' + t.name + '_nonneg')}, {q(t.name)}, "
                 f"{q(c.name + ' >= 0')})"]))
    t, _ = pick(table_ok=lambda t: t.name not in referenced)
    ops.append(("drop_table", f"drop {t.name}", [f"    op.drop_table({q(t.name)})"]))
    t, _ = pick(table_ok=lambda t: t.name in referenced)
    ops.append(("drop_table_cascade", f"drop {t.name} cascade", [f"    op.execute('DROP TABLE {t.name} CASCADE')"]))
    t, _ = pick()
    ops.append(("truncate", f"truncate {t.name}", [f"    op.execute('TRUNCATE TABLE {t.name} CASCADE')"]))
    t, _ = pick()
    ops.append(("delete_all", f"delete from {t.name}", [f"    op.execute('DELETE FROM {t.name}')"]))
    t, c = pick(col_ok=lambda t, c: c.kind == "bool")
    ops.append(("update_all", f"update {t.name}", [f"    op.execute('UPDATE {t.name} SET {c.name} = NOT {c.name}')"]))
    t, c = pick(col_ok=lambda t, c: c.kind in {"str", "int", "dt"} and c.name not in indexed(t))
    ops.append(("index_concurrently", f"index {t.name}.{c.name} concurrently (autocommit block)", [
        "    with op.get_context().autocommit_block():",
        f"        op.create_index({q(synthetic.ix_name(t.name, [c.name]))}, {q(t.name)}, [{q(c.name)}], "
        "postgresql_concurrently=True)",
    ]))
    ops.append(("enum_rename_value", "create and rename an enum value", [
        "    op.execute(\"CREATE TYPE synth_mood AS ENUM ('ok', 'meh')\")",
        "    op.execute(\"ALTER TYPE synth_mood RENAME VALUE 'meh' TO 'bad'\")",
    ]))
    return ops


def add_risky_tail(project: Path, tables: int, revisions: int, seed: int, count: int) -> int:
    """Append up to ``count`` risky revisions after the head of a generated project; returns how many."""
    if count <= 0:
        return 0
    schema = synthetic.build_schema(tables, seed)
    history, _ = synthetic.plan_history(schema, revisions, seed)
    rng = random.Random(seed + 7)
    ops = _risky_ops(schema, rng)[:count]
    down = history[-1].rev
    taken = {r.rev for r in history}
    for i, (slug, message, body) in enumerate(ops):
        rev = f"{rng.getrandbits(48):012x}"
        while rev in taken:
            rev = f"{rng.getrandbits(48):012x}"
        taken.add(rev)
        text = "\n".join([
            f'"""risky tail {i + 1}: {message}"""', "from alembic import op", "import sqlalchemy as sa", "",
            f"revision = {rev!r}", f"down_revision = {down!r}", "branch_labels = None", "depends_on = None", "", "",
            "def upgrade() -> None:", *body, "", "", "def downgrade() -> None:", "    pass", "",
        ])
        (project / "migrations" / "versions" / f"{rev}_zz_risky_{slug}.py").write_text(text)
        down = rev
    return len(ops)


# -- capture ---------------------------------------------------------------------------------
def capture(project_dir: Path, pg_server: str) -> list:
    from safemigrate.api import Project

    report = Project.from_pyproject(project_dir, scratch_url=pg_server, dialect="postgresql").review("base:heads")
    if report.dialect != "postgresql":
        raise BenchFailed(f"{project_dir}: captured on {report.dialect}, not PostgreSQL")
    return report.revisions


def write_sql(runs: list, out_dir: Path) -> tuple[list[Path], int, int]:
    """One .sql file per revision; returns (files, statements, bytes)."""
    from safemigrate.guard.analysis.sql import neutralise_pg_placeholders

    out_dir.mkdir(parents=True, exist_ok=True)
    for old in out_dir.glob("*.sql"):
        old.unlink()
    files: list[Path] = []
    n_statements = n_bytes = 0
    for i, run in enumerate(runs, start=1):
        parts: list[str] = []
        autocommit = False
        for st in run.statements:
            if st.bookkeeping:
                continue
            if (st.in_transaction is False) != autocommit:
                autocommit = st.in_transaction is False
                parts.append("COMMIT;\n" if autocommit else "BEGIN;\n")
            parts.append(neutralise_pg_placeholders(st.sql).strip().rstrip(";").rstrip() + ";\n")
            n_statements += 1
        if autocommit:
            parts.append("BEGIN;\n")
        path = out_dir / f"{i:04d}_{run.revision.revision}.sql"
        text = "".join(parts)
        path.write_text(text)
        n_bytes += len(text.encode())
        files.append(path)
    return files, n_statements, n_bytes


# -- timing ------------------------------------------------------------------------------------
def lint_in_process(runs: list, root: Path) -> list:
    from safemigrate.guard.lint import lint_runs

    return lint_runs(runs, dialect="postgresql", pg_version=PG_VERSION, lock_timeout_set=False, declared={},
                     root=root)


def time_in_process(runs: list, root: Path) -> tuple[float, list]:
    started = time.perf_counter()
    findings = lint_in_process(runs, root)
    return time.perf_counter() - started, findings


def time_cold(pickled: Path, root: Path) -> tuple[float, int]:
    cmd = [sys.executable, "-c", COLD_CODE, str(pickled), str(root)]
    started = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=WORK)
    elapsed = time.perf_counter() - started
    if proc.returncode != 0:
        print(proc.stdout, proc.stderr, file=sys.stderr)
        raise BenchFailed("the cold safemigrate lint process failed: see above")
    return elapsed, int(proc.stdout.strip())


def squawk_cmd(squawk: str, files: list[Path]) -> list[str]:
    return [squawk, "--pg-version", str(PG_VERSION), "--assume-in-transaction", "--reporter", "json",
            *[str(f.relative_to(WORK)) for f in files]]


def time_squawk(cmd: list[str]) -> tuple[float, list[dict]]:
    started = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=WORK)
    elapsed = time.perf_counter() - started
    if proc.returncode not in (0, 1):  # 1: violations found
        print(proc.stdout[-3000:], proc.stderr[-3000:], file=sys.stderr)
        raise BenchFailed(f"squawk exited {proc.returncode}: see above")
    try:
        found = json.loads(proc.stdout or "[]")
    except json.JSONDecodeError:
        print(proc.stdout[-3000:], proc.stderr[-3000:], file=sys.stderr)
        raise BenchFailed("squawk's --reporter json output is not JSON") from None
    return elapsed, found


def bench(name: str, runs: list, files: list[Path], pickled: Path, root: Path, squawk: str, repeat: int) -> dict:
    cmd = squawk_cmd(squawk, files)
    print(f"[{name}] warm-up ...", file=sys.stderr, flush=True)
    _, findings = time_in_process(runs, root)
    _, cold_count = time_cold(pickled, root)
    _, sq_findings = time_squawk(cmd)
    if cold_count != len(findings):
        raise BenchFailed(f"[{name}] cold process found {cold_count} findings, in-process {len(findings)}")
    ip, cold, sq = [], [], []
    for i in range(repeat):
        print(f"[{name}] run {i + 1}/{repeat} ...", file=sys.stderr, flush=True)
        t, f = time_in_process(runs, root)
        ip.append(t)
        t, _ = time_cold(pickled, root)
        cold.append(t)
        t, s = time_squawk(cmd)
        sq.append(t)
        if len(f) != len(findings) or len(s) != len(sq_findings):
            raise BenchFailed(f"[{name}] finding counts changed between runs")
    m_ip, m_cold, m_sq = statistics.median(ip), statistics.median(cold), statistics.median(sq)
    return {
        "data_set": name,
        "revisions": len(runs),
        "files": len(files),
        "safemigrate_in_process_s": round(m_ip, 4),
        "safemigrate_cold_s": round(m_cold, 4),
        "squawk_s": round(m_sq, 4),
        "ratio_in_process": round(m_ip / m_sq, 3),
        "ratio_cold": round(m_cold / m_sq, 3),
        "safemigrate_in_process_runs_s": [round(x, 4) for x in ip],
        "safemigrate_cold_runs_s": [round(x, 4) for x in cold],
        "squawk_runs_s": [round(x, 4) for x in sq],
        "safemigrate_findings": dict(sorted(Counter(f.rule for f in findings).items())),
        "squawk_findings": dict(sorted(Counter(f.get("rule_name", "?") for f in sq_findings).items())),
        "squawk_command": " ".join(cmd[:7]) + f" ... ({len(files)} files)",
    }


def profile(runs: list, root: Path, top: int = 25) -> str:
    prof = cProfile.Profile()
    prof.enable()
    lint_in_process(runs, root)
    prof.disable()
    out = io.StringIO()
    stats = pstats.Stats(prof, stream=out).sort_stats("cumulative")
    stats.print_stats(r"safemigrate|pglast|sqlglot", top)
    return out.getvalue()


# -- output ---------------------------------------------------------------------------------------
def timing_table(results: list[dict], repeat: int) -> str:
    header = (f"{'data set':<10} {'revs':>5} {'sm in-proc s':>13} {'sm cold s':>10} {'squawk s':>9} "
              f"{'ratio in-proc':>14} {'ratio cold':>11}")
    lines = [f"median of {repeat} run(s) after one warm-up; ratio = safemigrate/squawk (target <= 1.0)",
             header, "-" * len(header)]
    for r in results:
        lines.append(f"{r['data_set']:<10} {r['revisions']:>5} {r['safemigrate_in_process_s']:>13.3f} "
                     f"{r['safemigrate_cold_s']:>10.3f} {r['squawk_s']:>9.3f} {r['ratio_in_process']:>14.2f} "
                     f"{r['ratio_cold']:>11.2f}")
    return "\n".join(lines)


def findings_table(results: list[dict], registered: list[str]) -> str:
    names = [r["data_set"] for r in results]
    ours = [r["safemigrate_findings"] for r in results]
    theirs = [r["squawk_findings"] for r in results]
    fired_ours = {k for c in ours for k in c}
    fired_theirs = {k for c in theirs for k in c}
    rows: list[tuple[str, list[str], str, list[str]]] = []
    shown_theirs: set[str] = set()

    def counts(table: list[dict], key: str | None) -> list[str]:
        return ["" if key is None else str(c.get(key, 0)) for c in table]

    for rid in sorted(set(registered) | fired_ours):
        sq = SQUAWK_EQUIVALENT.get(rid)
        rows.append((rid, counts(ours, rid), sq or "-", counts(theirs, sq)))
        if sq:
            shown_theirs.add(sq)
    for sq in sorted(fired_theirs - shown_theirs):
        missing = [k for k, v in SQUAWK_EQUIVALENT.items() if v == sq and k not in registered]
        left = f"({missing[0]}: no rule)" if missing else "-"
        rows.append((left, ["" for _ in names], sq, counts(theirs, sq)))
    w1 = max(len("safemigrate rule"), *(len(r[0]) for r in rows))
    w2 = max(len("closest squawk rule"), *(len(r[2]) for r in rows))
    cw = max(6, *(len(n) for n in names))
    head = (f"{'safemigrate rule':<{w1}} " + " ".join(f"{n:>{cw}}" for n in names)
            + f" | {'closest squawk rule':<{w2}} " + " ".join(f"{n:>{cw}}" for n in names))
    lines = ["findings per rule (counts per data set)", head, "-" * len(head)]
    for left, lc, right, rc in rows:
        lines.append(f"{left:<{w1}} " + " ".join(f"{c:>{cw}}" for c in lc)
                     + f" | {right:<{w2}} " + " ".join(f"{c:>{cw}}" for c in rc))
    lines.append("-" * len(head))
    lines.append(f"{'total':<{w1}} " + " ".join(f"{sum(c.values()):>{cw}}" for c in ours)
                 + f" | {'total':<{w2}} " + " ".join(f"{sum(c.values()):>{cw}}" for c in theirs))
    return "\n".join(lines)


def _versions(squawk: str) -> dict[str, str]:
    from importlib.metadata import version

    out = {pkg: version(pkg) for pkg in ("safemigrate", "pglast", "alembic", "SQLAlchemy")}
    out["squawk"] = subprocess.run([squawk, "--version"], capture_output=True, text=True).stdout.strip()
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tables", type=int, default=300)
    parser.add_argument("--revisions", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--seed", type=int, default=synthetic.DEFAULT_SEED)
    parser.add_argument("--risky-tail", type=int, default=20,
                        help="risky revisions appended to the synthetic history (0: none; at most 20)")
    parser.add_argument("--no-shop", action="store_true", help="skip the examples/shop data set")
    parser.add_argument("--pg-server", default=PG_SERVER, help="PostgreSQL server URL (its database: to connect)")
    parser.add_argument("--profile", action="store_true", help="cProfile lint_runs on the synthetic set")
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")

    squawk = find_squawk()
    if squawk is None:
        print("squawk not found. Install it into the venv with:\n"
              f"    {BIN / 'pip'} install squawk-cli\n"
              "(the squawk-cli wheel ships the squawk binary).", file=sys.stderr)
        return 2
    sys.dont_write_bytecode = True  # no __pycache__ in examples/shop
    WORK.mkdir(exist_ok=True)

    sets: list[tuple[str, Path, str]] = []
    project = synthetic.generate(WORK / f"lint_synth_{args.tables}t_{args.revisions}r", args.tables,
                                 args.revisions, args.seed)
    tail = add_risky_tail(project, args.tables, args.revisions, args.seed, args.risky_tail)
    print(f"project: {project} ({args.tables} tables, {args.revisions} revisions + {tail} risky)", file=sys.stderr)
    sets.append(("synthetic", project, "lint_sql"))
    if not args.no_shop:
        sets.append(("shop", SHOP, "lint_sql_shop"))

    results: list[dict] = []
    profiles: dict[str, str] = {}
    for name, root, sql_dir in sets:
        print(f"[{name}] capturing the SQL on PostgreSQL ...", file=sys.stderr, flush=True)
        started = time.perf_counter()
        runs = capture(root, args.pg_server)
        capture_s = time.perf_counter() - started
        files, n_statements, n_bytes = write_sql(runs, WORK / sql_dir)
        pickled = WORK / f"lint_runs_{name}.pickle"
        pickled.write_bytes(pickle.dumps(runs, protocol=pickle.HIGHEST_PROTOCOL))
        result = bench(name, runs, files, pickled, root, squawk, args.repeat)
        result.update(statements=n_statements, sql_bytes=n_bytes, capture_s=round(capture_s, 2),
                      sql_dir=str((WORK / sql_dir).relative_to(REPO)), pickle=str(pickled.relative_to(REPO)))
        if name == "synthetic":
            result["risky_tail"] = tail
            if args.profile:
                profiles[name] = profile(runs, root)
        results.append(result)

    from safemigrate.guard.registry import load_rules

    registered = sorted(load_rules())
    print(timing_table(results, args.repeat))
    print()
    print(findings_table(results, registered))
    for name, text in profiles.items():
        print(f"\ncProfile of lint_runs on {name} (cumulative, safemigrate/pglast/sqlglot only):\n{text}")

    report = {
        "tables": args.tables, "revisions": args.revisions, "risky_tail": tail, "repeat": args.repeat,
        "seed": args.seed, "pg_version": PG_VERSION, "target_ratio": 1.0,
        "python": platform.python_version(), "platform": platform.platform(), "versions": _versions(squawk),
        "registered_rules": registered, "squawk_equivalent": SQUAWK_EQUIVALENT,
        "results": results, "profiles": profiles,
    }
    out = WORK / "bench_lint.json"
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
