"""Benchmark: is the stall ``safemigrate rehearse`` reports the one an application feels, and what does it cost?

    nice python benchmarks/bench_rehearse.py [--rows 2000000] [--fill-rows 200000] [--server URL]

1. Accuracy. One PostgreSQL database is built with ``customers`` (100,000 rows) and ``orders`` (``--rows``,
   2,000,000 by default) at revision 0001. For each scenario (a revision 0002 of its own) a copy is made with
   CREATE DATABASE ... TEMPLATE and ``Project.rehearse(source=CopySource(from_url=copy))`` runs on it while an
   *independent writer* (a process of its own, not one of the probes) inserts into ``orders`` in a loop. The
   longest insert it saw is set beside the writer stall rehearse reports for the statement. Done when they
   agree within 20 % or 20 ms, whichever is larger, and the safe forms report under 50 ms.
2. Overhead. The naive CREATE INDEX and ALTER COLUMN TYPE revisions applied to two copies of the same
   database: once with Alembic's ``command.upgrade`` in this process (plain), once rehearsed (probes on,
   every statement measured); the wall time of the upgrade request and the statement's own duration.
3. Synthetic fill. A 10-table schema with foreign keys, enums, CHECK ... IN, uuid, jsonb, numeric, dates:
   ``--rows N`` (``--fill-rows`` per table, 200,000 by default: 2,000,000 rows in all); rows per second.

Figures are printed and written to benchmarks/.work/bench_rehearse.json. Every database it makes is
dropped afterwards, also on failure.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import secrets
import subprocess
import sys
import tempfile
import time
from importlib import resources
from pathlib import Path

from sqlalchemy import create_engine, pool, text
from sqlalchemy.engine import make_url

from safemigrate.api import Project
from safemigrate.rehearsal.copies import CopySource

HERE = Path(__file__).resolve().parent
WORK = HERE / ".work"
PG_SERVER = os.environ.get("SAFEMIGRATE_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")

FIRST = '''
def upgrade():
    op.create_table("customers", sa.Column("id", sa.Integer, primary_key=True), sa.Column("name", sa.Text))
    op.create_table("orders", sa.Column("id", sa.BigInteger, primary_key=True),
                    sa.Column("customer_id", sa.Integer, nullable=False), sa.Column("amount", sa.Integer),
                    sa.Column("note", sa.Text))
'''
#: scenario -> (revision 0002's upgrade body, whether it is a safe form, how to spot its main statement)
SCENARIOS: dict[str, tuple[str, bool, str]] = {
    "naive CREATE INDEX": ('op.create_index("ix_orders_customer", "orders", ["customer_id"])', False, "CREATE INDEX"),
    "ADD FOREIGN KEY": ('op.create_foreign_key("fk_orders_customer", "orders", "customers", ["customer_id"], ["id"])',
                        False, "FOREIGN KEY"),
    "SET NOT NULL": ('op.alter_column("orders", "note", existing_type=sa.Text, nullable=False)', False, "NOT NULL"),
    "volatile default": ('op.add_column("orders", sa.Column("token", sa.Text, '
                         'server_default=sa.text("md5(random()::text)")))', False, "ADD COLUMN"),
    "ALTER COLUMN TYPE": ('op.alter_column("orders", "amount", existing_type=sa.Integer, type_=sa.BigInteger)',
                          False, "TYPE"),
    "CREATE INDEX CONCURRENTLY": ('with op.get_context().autocommit_block():\n'
                                  '    op.create_index("ix_orders_customer", "orders", ["customer_id"], '
                                  'postgresql_concurrently=True)', True, "CONCURRENTLY"),
    "ADD FOREIGN KEY NOT VALID + VALIDATE": (
        'op.execute("ALTER TABLE orders ADD CONSTRAINT fk_orders_customer FOREIGN KEY (customer_id) '
        'REFERENCES customers (id) NOT VALID")\n'
        'with op.get_context().autocommit_block():\n'
        '    op.execute("ALTER TABLE orders VALIDATE CONSTRAINT fk_orders_customer")', True, "FK_ORDERS_CUSTOMER"),
}

FILL_SCHEMA = '''
def upgrade():
    mood = sa.Enum("happy", "sad", "neutral", name="mood")
    op.create_table("regions", sa.Column("id", sa.Integer, primary_key=True), sa.Column("name", sa.String(40),
                    nullable=False, unique=True))
    op.create_table("customers", sa.Column("id", sa.Integer, primary_key=True),
                    sa.Column("region_id", sa.Integer, sa.ForeignKey("regions.id"), nullable=False),
                    sa.Column("email", sa.String(120), nullable=False, unique=True), sa.Column("mood", mood),
                    sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now()))
    op.create_table("suppliers", sa.Column("id", sa.Integer, primary_key=True),
                    sa.Column("region_id", sa.Integer, sa.ForeignKey("regions.id")), sa.Column("name", sa.Text))
    op.create_table("products", sa.Column("id", sa.Integer, primary_key=True),
                    sa.Column("supplier_id", sa.Integer, sa.ForeignKey("suppliers.id"), nullable=False),
                    sa.Column("sku", sa.String(32), nullable=False, unique=True),
                    sa.Column("price", sa.Numeric(10, 2), nullable=False),
                    sa.CheckConstraint("price >= 0", name="ck_price"))
    op.create_table("orders", sa.Column("id", sa.BigInteger, primary_key=True),
                    sa.Column("customer_id", sa.Integer, sa.ForeignKey("customers.id"), nullable=False),
                    sa.Column("status", sa.String(20), nullable=False), sa.Column("placed_on", sa.Date),
                    sa.CheckConstraint("status IN ('new', 'paid', 'shipped')", name="ck_status"))
    op.create_table("order_items", sa.Column("id", sa.BigInteger, primary_key=True),
                    sa.Column("order_id", sa.BigInteger, sa.ForeignKey("orders.id"), nullable=False),
                    sa.Column("product_id", sa.Integer, sa.ForeignKey("products.id"), nullable=False),
                    sa.Column("quantity", sa.Integer, nullable=False))
    op.create_table("payments", sa.Column("id", sa.BigInteger, primary_key=True),
                    sa.Column("order_id", sa.BigInteger, sa.ForeignKey("orders.id"), nullable=False),
                    sa.Column("reference", sa.Uuid, nullable=False, unique=True), sa.Column("paid", sa.Boolean))
    op.create_table("reviews", sa.Column("id", sa.BigInteger, primary_key=True),
                    sa.Column("product_id", sa.Integer, sa.ForeignKey("products.id"), nullable=False),
                    sa.Column("customer_id", sa.Integer, sa.ForeignKey("customers.id"), nullable=False),
                    sa.Column("body", postgresql.JSONB), sa.Column("mood", mood, nullable=False))
    op.create_table("shipments", sa.Column("id", sa.BigInteger, primary_key=True),
                    sa.Column("order_id", sa.BigInteger, sa.ForeignKey("orders.id"), nullable=False, unique=True),
                    sa.Column("shipped_at", sa.DateTime))
    op.create_table("audit", sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
                    sa.Column("customer_id", sa.Integer, sa.ForeignKey("customers.id")),
                    sa.Column("payload", sa.LargeBinary), sa.Column("at", sa.Time))
'''

WRITER = r'''
import json, os, sys, time
import psycopg
url, stop, out = sys.argv[1:4]
conn = psycopg.connect(url, autocommit=True)
seen = []
key = 1_000_000_000
open(out + ".ready", "w").close()
while not os.path.exists(stop):
    started = time.monotonic()
    conn.execute("INSERT INTO orders (id, customer_id, amount, note) VALUES (%s, 1, 1, 'w')", (key,))
    seen.append((started, time.monotonic()))
    key += 1
    time.sleep(0.002)
with open(out, "w") as handle:
    json.dump(seen, handle)
'''


def project(root: Path, first: str, second: str) -> Path:
    root.mkdir(parents=True)
    templates = resources.files("safemigrate") / "templates"
    versions = root / "migrations" / "versions"
    versions.mkdir(parents=True)
    (root / "pyproject.toml").write_text("[tool.safemigrate]\nscript_location = \"migrations\"\n")
    (root / "migrations" / "env.py").write_text(templates.joinpath("env.py").read_text())
    (root / "migrations" / "script.py.mako").write_text(templates.joinpath("script.py.mako").read_text())
    (root / "alembic.ini").write_text(templates.joinpath("alembic.ini").read_text()
                                      .replace("{script_location}", "migrations"))
    head = "import sqlalchemy as sa\nfrom alembic import op\nfrom sqlalchemy.dialects import postgresql\n"
    (versions / "0001_first.py").write_text(f'"""first"""\n{head}\nrevision = "0001"\ndown_revision = None\n'
                                            f"{first}\n\ndef downgrade():\n    pass\n")
    body = "\n".join("    " + line for line in second.splitlines())
    (versions / "0002_second.py").write_text(f'"""second"""\n{head}\nrevision = "0002"\ndown_revision = "0001"\n\n'
                                             f"def upgrade():\n{body}\n\n\ndef downgrade():\n    pass\n")
    return root


class Server:
    def __init__(self, url: str):
        self.url = make_url(url)
        self.engine = create_engine(self.url, poolclass=pool.NullPool, isolation_level="AUTOCOMMIT")
        self.made: list[str] = []

    def create(self, template: str | None = None) -> str:
        name = f"bench_rh_{secrets.token_hex(4)}"
        with self.engine.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else "")))
        self.made.append(name)
        return self.url.set(database=name).render_as_string(hide_password=False)

    def drop(self, url: str) -> None:
        name = make_url(url).database
        with self.engine.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        if name in self.made:
            self.made.remove(name)

    def drop_all(self) -> None:
        for name in list(self.made):
            self.drop(self.url.set(database=name).render_as_string(hide_password=False))
        self.engine.dispose()


def run_sql(url: str, *statements: str) -> None:
    engine = create_engine(url, poolclass=pool.NullPool)
    try:
        with engine.begin() as conn:
            for statement in statements:
                conn.execute(text(statement))
    finally:
        engine.dispose()


def alembic_upgrade(root: Path, url: str, target: str = "head") -> float:
    """A plain `alembic upgrade` in this process; its wall time in ms."""
    from alembic import command
    from alembic.config import Config

    os.environ["DATABASE_URL"] = url
    cwd = os.getcwd()
    os.chdir(root)
    try:
        started = time.perf_counter()
        command.upgrade(Config(str(root / "alembic.ini")), target)
        return (time.perf_counter() - started) * 1000
    finally:
        os.chdir(cwd)
        os.environ.pop("DATABASE_URL", None)


def independent_writer(url: str, folder: Path) -> tuple[subprocess.Popen[bytes], Path, Path]:
    stop, out = folder / f"stop_{secrets.token_hex(3)}", folder / f"writer_{secrets.token_hex(3)}.json"
    libpq = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    process = subprocess.Popen([sys.executable, "-c", WRITER, libpq, str(stop), str(out)])
    while not Path(str(out) + ".ready").exists():
        time.sleep(0.02)
    time.sleep(0.3)  # its first inserts are in
    return process, stop, out


def accuracy(server: Server, base: str, folder: Path) -> list[dict[str, object]]:
    figures = []
    for name, (body, safe, marker) in SCENARIOS.items():
        root = project(folder / f"acc_{secrets.token_hex(3)}", FIRST, body)
        copy = server.create(template=make_url(base).database)
        try:
            process, stop, out = independent_writer(copy, folder)
            try:
                report = Project.from_pyproject(root).rehearse(source=CopySource(from_url=copy))
            finally:
                stop.write_text("")
                process.wait(timeout=120)
            seen = json.loads(out.read_text())
            window = [(s, e) for s, e in seen]
            independent = max((e - s) * 1000 for s, e in window)
            rows = [r for r in report.statements if marker in r.sql.upper()]
            row = max(rows, key=lambda r: r.writer_stall_ms.max or 0)
            reported = row.writer_stall_ms.max or 0.0
            tolerance = max(20.0, 0.2 * independent)
            figures.append({
                "scenario": name, "safe": safe, "statement": row.sql[:90], "duration_ms": row.duration_ms,
                "held_ms": row.held_ms, "rewrite": row.rewrite,
                "locks": [f"{lock.mode} {lock.relation}" for lock in row.locks], "locks_sampled": row.locks_sampled,
                "reported_writer_stall_ms": reported, "reported_p99_ms": row.writer_stall_ms.p99,
                "independent_writer_max_ms": round(independent, 1),
                "difference_ms": round(reported - independent, 1), "tolerance_ms": round(tolerance, 1),
                "agrees": abs(reported - independent) <= tolerance and (not safe or reported < 50),
            })
            print(f"  {name:40} reported {reported:8.1f} ms  independent {independent:8.1f} ms  "
                  f"duration {row.duration_ms:8.1f} ms  rewrite={row.rewrite}  "
                  f"{'ok' if figures[-1]['agrees'] else 'DISAGREES'}", flush=True)
        finally:
            server.drop(copy)
    return figures


def overhead(server: Server, base: str, folder: Path) -> list[dict[str, object]]:
    figures = []
    for name in ("naive CREATE INDEX", "ALTER COLUMN TYPE"):
        body, _, marker = SCENARIOS[name]
        root = project(folder / f"ovh_{secrets.token_hex(3)}", FIRST, body)
        plain_copy = server.create(template=make_url(base).database)
        rehearsed_copy = server.create(template=make_url(base).database)
        try:
            plain_ms = alembic_upgrade(root, plain_copy)
            started = time.perf_counter()
            report = Project.from_pyproject(root).rehearse(source=CopySource(from_url=rehearsed_copy))
            command_ms = (time.perf_counter() - started) * 1000
            [row] = [r for r in report.statements if marker in r.sql.upper()]
            figures.append({"scenario": name, "plain_upgrade_ms": round(plain_ms, 1),
                            "rehearsed_upgrade_ms": report.total_ms, "rehearsed_statement_ms": row.duration_ms,
                            "rehearse_call_ms": round(command_ms, 1),
                            "overhead_pct": round(100 * (report.total_ms - plain_ms) / plain_ms, 1)})
            print(f"  {name:40} plain {plain_ms:8.1f} ms  rehearsed {report.total_ms:8.1f} ms "
                  f"(statement {row.duration_ms:.1f} ms; whole call with env.py start {command_ms:.0f} ms)",
                  flush=True)
        finally:
            server.drop(plain_copy)
            server.drop(rehearsed_copy)
    return figures


def fill_speed(server: Server, per_table: int, folder: Path) -> dict[str, object]:
    root = project(folder / "fill", FILL_SCHEMA, 'op.create_index("ix_orders_status", "orders", ["status"])')
    report = Project.from_pyproject(root, scratch_url=server.url.render_as_string(hide_password=False)).rehearse(
        source=CopySource(rows=per_table))
    total = sum(f.rows for f in report.fill)
    seconds = sum(f.seconds for f in report.fill)
    print(f"  {len(report.fill)} tables, {total} rows in {seconds:.1f} s ({total / seconds:.0f} rows/s)", flush=True)
    return {"tables": len(report.fill), "rows": total, "seconds": round(seconds, 2),
            "rows_per_second": round(total / seconds), "per_table": [vars(f) for f in report.fill]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2_000_000, help="rows in orders (accuracy, overhead)")
    parser.add_argument("--fill-rows", type=int, default=200_000, help="rows per table of the 10-table fill")
    parser.add_argument("--server", default=PG_SERVER)
    args = parser.parse_args()
    server = Server(args.server)
    results: dict[str, object] = {"machine": f"{platform.machine()}, {os.cpu_count()} cores", "rows": args.rows}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        try:
            base = server.create()
            root = project(folder / "base", FIRST, "pass")
            alembic_upgrade(root, base, "0001")
            started = time.perf_counter()
            run_sql(base, "INSERT INTO customers SELECT g, 'c' || g FROM generate_series(1, 100000) g",
                    f"INSERT INTO orders SELECT g, 1 + g % 100000, g % 1000, md5(g::text) "
                    f"FROM generate_series(1, {args.rows}) g")
            run_sql(base, "ANALYZE")
            with server.engine.connect() as conn:
                version = conn.execute(text("SHOW server_version")).scalar()
            results["server_version"] = version
            print(f"PostgreSQL {version}; base built in {time.perf_counter() - started:.1f} s "
                  f"({args.rows} orders)", flush=True)
            print("accuracy (writer stall, reported vs independent writer):", flush=True)
            results["accuracy"] = accuracy(server, base, folder)
            print("overhead (plain alembic upgrade vs rehearse, same data):", flush=True)
            results["overhead"] = overhead(server, base, folder)
            print("synthetic fill:", flush=True)
            results["fill"] = fill_speed(server, args.fill_rows, folder)
        finally:
            server.drop_all()
    WORK.mkdir(exist_ok=True)
    (WORK / "bench_rehearse.json").write_text(json.dumps(results, indent=2))
    print(f"written to {WORK / 'bench_rehearse.json'}")


if __name__ == "__main__":
    main()
