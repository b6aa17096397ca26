"""Benchmark: ``pg_dump -Fc`` to a local file vs. ``safemigrate backup create`` to S3 on loopback.

    python benchmarks/bench_backup.py [--sizes 250,1000] [--repeat 2] [--server URL]
    python benchmarks/bench_backup.py --sizes 50,200 --repeat 1     # a quick run

Builds one PostgreSQL database with generate_series (customers, orders,
events) and grows it to each size in turn (MB as pg_database_size reports).
At each size, after one untimed pg_dump that warms the page cache, it
alternates

(a) ``pg_dump --format=custom --file=<local file>`` (the baseline), and
(b) ``safemigrate backup create`` to ``s3://<bucket>/bench`` on a moto S3
    server (a separate process on 127.0.0.1), with the default verification
    (the object is read back: size, sha256, ``pg_restore --list``).

It prints the median wall time and throughput (database MB/s) of each, the
ratio (b)/(a) of the throughputs (target >= 0.9), and the peak resident
memory of the safemigrate process (psutil polling every 10 ms; pg_dump, its
child, is the same program in both and is not counted), target < 150 MB and
flat as the database grows. Figures are written to
benchmarks/.work/bench_backup.json. The database, the bucket and the dump
files are removed afterwards, also on failure.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
from sqlalchemy import create_engine, pool, text
from sqlalchemy.engine import make_url

HERE = Path(__file__).resolve().parent
WORK = HERE / ".work"
BIN = Path(sys.executable).parent
PG_SERVER = os.environ.get("SAFEMIGRATE_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
MB = 1_000_000

# Rows are generated in batches into three tables; payloads mix repetitive and random-looking text. The
# custom-format dump comes out at about a seventh of pg_database_size (indexes are not dumped; text compresses).
_SERIES = "FROM generate_series(CAST(:a AS bigint), CAST(:b AS bigint)) i"
_BATCH = {
    "customers": ("INSERT INTO customers SELECT i, 'user' || i || '@example.com', 'Customer ' || (i % 9973), "
                  f"now() - (i % 1000) * interval '1 hour', i % 500 {_SERIES}"),
    "orders": ("INSERT INTO orders SELECT i, i % 200000, (i % 10000) / 100.0, "
               "(ARRAY['pending','paid','shipped','delivered'])[1 + i % 4], now() - (i % 5000) * interval '1 minute', "
               f"CASE WHEN i % 3 = 0 THEN 'gift wrap, leave at door' ELSE NULL END {_SERIES}"),
    "events": ("INSERT INTO events SELECT i, i % 1000000, (ARRAY['view','cart','checkout','refund'])[1 + i % 4], "
               "'{\"session\": \"' || md5(i::text) || '\", \"page\": \"/products/' || (i % 5000) || "
               f"'\", \"ua\": \"Mozilla/5.0 (X11; Linux x86_64)\"}}' {_SERIES}"),
}
_SCHEMA = [
    "CREATE TABLE customers (id bigint PRIMARY KEY, email text, name text, created_at timestamptz, score int)",
    "CREATE TABLE orders (id bigint PRIMARY KEY, customer_id bigint, amount numeric(10, 2), status text, "
    "created_at timestamptz, note text)",
    "CREATE TABLE events (id bigint PRIMARY KEY, order_id bigint, kind text, payload text)",
]


def _admin():
    return create_engine(PG_SERVER, poolclass=pool.NullPool, isolation_level="AUTOCOMMIT")


def database_size(url: str) -> int:
    engine = create_engine(url, poolclass=pool.NullPool)
    with engine.connect() as conn:
        size = conn.execute(text("SELECT pg_database_size(current_database())")).scalar_one()
    engine.dispose()
    return int(size)


def grow(url: str, target_mb: int, next_id: dict[str, int]) -> None:
    """Add rows until the database is at least ``target_mb``."""
    engine = create_engine(url, poolclass=pool.NullPool)
    while database_size(url) < target_mb * MB:
        with engine.begin() as conn:
            for table, rows in (("customers", 20_000), ("orders", 60_000), ("events", 160_000)):
                start = next_id[table]
                conn.execute(text(_BATCH[table]), {"a": start, "b": start + rows - 1})
                next_id[table] = start + rows
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE"))
    engine.dispose()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def timed_pg_dump(url: str, out: Path) -> float:
    parsed = make_url(url)
    argv = ["pg_dump", "--format=custom", f"--file={out}", "--no-password", f"--host={parsed.host}",
            f"--port={parsed.port or 5432}", f"--username={parsed.username}", parsed.database]
    started = time.perf_counter()
    subprocess.run(argv, check=True)
    elapsed = time.perf_counter() - started
    return elapsed


def safemigrate_argv() -> list[str]:
    """``safemigrate backup`` once the group is registered; the module itself until then."""
    probe = subprocess.run([str(BIN / "safemigrate"), "backup", "--help"], capture_output=True)
    if probe.returncode == 0:
        return [str(BIN / "safemigrate"), "backup"]
    return [sys.executable, "-m", "safemigrate.backup.cli"]


def timed_safemigrate(argv: list[str], project: Path, url: str, dest: str, env: dict[str, str]) -> dict:
    command = [*argv, "create", "--project", str(project), "--database-url", url, "--dest", dest,
               "--format", "json", "--quiet", "--env", "production"]
    started = time.perf_counter()
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True)
    watched = psutil.Process(proc.pid)
    peak = 0
    while proc.poll() is None:
        try:
            peak = max(peak, watched.memory_info().rss)
        except psutil.Error:
            break
        time.sleep(0.01)
    out, err = proc.communicate()
    elapsed = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"safemigrate backup create failed ({proc.returncode}):\n{out}\n{err}")
    result = json.loads(out)
    size = result["manifest"]["size"]
    dump_phase = result["dump_s"]
    return {"seconds": elapsed, "peak_rss_mb": peak / (1 << 20), "dump_bytes": size, "id": result["id"],
            # where the time goes: process start-up, imports and preparation (connecting, finding pg_dump,
            # checking the bucket); the streamed dump; everything after it (completing the upload, reading it
            # back to verify, the manifest)
            "startup_s": elapsed - result["duration_s"] + result["prepare_s"], "dump_s": dump_phase,
            "after_dump_s": result["duration_s"] - result["prepare_s"] - dump_phase}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="250,1000", help="database sizes in MB, ascending (default 250,1000)")
    parser.add_argument("--repeat", type=int, default=2, help="timed runs of each tool per size (median)")
    parser.add_argument("--checksums-when-required", action="store_true",
                        help="AWS_REQUEST_CHECKSUM_CALCULATION=when_required for safemigrate: no CRC32 per part, "
                        "which moto otherwise recomputes (slowly) when it completes the upload")
    args = parser.parse_args()
    sizes = sorted(int(s) for s in args.sizes.split(","))
    WORK.mkdir(exist_ok=True)
    name = f"smbench_{secrets.token_hex(4)}"
    url = make_url(PG_SERVER).set(database=name).render_as_string(hide_password=False)
    port = free_port()
    moto = subprocess.Popen([str(BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    endpoint = f"http://127.0.0.1:{port}"
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench",
           "AWS_DEFAULT_REGION": "us-east-1", "AWS_ENDPOINT_URL": endpoint}
    env.pop("DATABASE_URL", None)
    if args.checksums_when_required:
        env["AWS_REQUEST_CHECKSUM_CALCULATION"] = "when_required"
    scratch = Path(tempfile.mkdtemp(prefix="smbench-"))
    project = scratch / "project"
    project.mkdir()
    (project / "pyproject.toml").write_text("[tool.safemigrate]\n")
    with _admin().connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    results = []
    try:
        import boto3

        for _ in range(100):
            try:
                s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                                  aws_access_key_id="bench", aws_secret_access_key="bench")
                s3.create_bucket(Bucket="bench")
                break
            except Exception:
                time.sleep(0.1)
        engine = create_engine(url, poolclass=pool.NullPool)
        with engine.begin() as conn:
            for statement in _SCHEMA:
                conn.execute(text(statement))
        engine.dispose()
        next_id = {"customers": 1, "orders": 1, "events": 1}
        argv = safemigrate_argv()
        for size in sizes:
            started = time.perf_counter()
            grow(url, size, next_id)
            actual = database_size(url)
            print(f"database {actual / MB:.0f} MB (built in {time.perf_counter() - started:.0f}s)", flush=True)
            local = scratch / "baseline.dump"
            timed_pg_dump(url, local)  # warm-up: page cache
            baseline, ours = [], []
            for i in range(args.repeat):
                os.sync()  # each timed run starts without the previous one's dirty pages being written back
                baseline.append(timed_pg_dump(url, local))
                dump_bytes = local.stat().st_size
                local.unlink()
                os.sync()
                ours.append(timed_safemigrate(argv, project, url, f"s3://bench/run{size}_{i}", env))
                # moto keeps every object in its own memory: empty the bucket so each run starts alike
                for item in s3.list_objects_v2(Bucket="bench").get("Contents", []):
                    s3.delete_object(Bucket="bench", Key=item["Key"])
            t_base = statistics.median(baseline)
            t_ours = statistics.median(r["seconds"] for r in ours)
            row = {
                "database_mb": round(actual / MB), "dump_mb": round(dump_bytes / MB, 1),
                "pg_dump_s": round(t_base, 2), "pg_dump_mb_s": round(actual / MB / t_base, 1),
                "safemigrate_s": round(t_ours, 2), "safemigrate_mb_s": round(actual / MB / t_ours, 1),
                "ratio": round(t_base / t_ours, 3), "peak_rss_mb": round(max(r["peak_rss_mb"] for r in ours), 1),
                **{key: round(statistics.median(r[key] for r in ours), 2)
                   for key in ("startup_s", "dump_s", "after_dump_s")},
            }
            results.append(row)
            print(f"  pg_dump -Fc to a local file   {row['pg_dump_s']:7.2f}s  {row['pg_dump_mb_s']:6.1f} MB/s"
                  f"   (dump {row['dump_mb']} MB)")
            print(f"  safemigrate backup create, S3 {row['safemigrate_s']:7.2f}s  {row['safemigrate_mb_s']:6.1f} MB/s"
                  f"   ratio {row['ratio']:.2f} (target >= 0.9)   peak RSS {row['peak_rss_mb']:.0f} MB "
                  "(target < 150)")
            print(f"    safemigrate's time: start-up + preparation {row['startup_s']:.2f}s, streamed dump "
                  f"{row['dump_s']:.2f}s, completing the upload + verifying + manifest {row['after_dump_s']:.2f}s",
                  flush=True)
    finally:
        with _admin().connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        moto.terminate()
        moto.wait()
        for leftover in scratch.rglob("*"):
            if leftover.is_file():
                leftover.unlink()
        for folder in sorted(scratch.rglob("*"), reverse=True):
            folder.rmdir()
        scratch.rmdir()
    report = {"machine": f"{platform.machine()}, {os.cpu_count()} CPUs", "python": platform.python_version(),
              "repeat": args.repeat, "checksums_when_required": args.checksums_when_required, "results": results}
    (WORK / "bench_backup.json").write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
