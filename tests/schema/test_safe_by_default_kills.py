"""kill -9 at random moments of a generated safe revision, then rerun: it converges (issue #11, "Done when").

One revision, written by safemigrate's autogenerate hook from four model changes on tables that have rows
(an index, a foreign key, NOT NULL on a filled column, a unique constraint), is applied by `safemigrate
migrate` in a subprocess that is killed with SIGKILL at a random moment: before it reached the revision,
inside any of its steps (each CONCURRENTLY build, each VALIDATE, each step of the NOT NULL recipe), or after
it committed. The next `migrate` is the rerun, and may be killed in turn; every run that completes must leave
the schema the models describe, the revision recorded, no INVALID index and no helper check constraint,
with no SQL typed by a person and no `ledger resolve`. Then the changes are undone and the kills go on.
"""

from __future__ import annotations

import random
import subprocess
import time
from pathlib import Path

import pytest
from helpers import add_model_line, execute, scalar, upgrade
from test_ci import HEAD
from test_journal import _kill, _migrate, _start
from test_kills import _wait_settled

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

KILLS = 50
RERUN_EVERY = 3  # kills in a row (each run a rerun of the killed one) before a run is let finish
ROWS = 200_000

PHONE = "    phone: Mapped[str | None] = mapped_column(sa.String(32))\n"
PHONE_REQUIRED_INDEXED = "    phone: Mapped[str] = mapped_column(sa.String(32), index=True)\n"
CATEGORY_NAME = "    name: Mapped[str] = mapped_column(sa.String(100))\n"
CATEGORY_NAME_UNIQUE = "    name: Mapped[str] = mapped_column(sa.String(100), unique=True)\n"
FEATURED = "featured_product_id: Mapped[int | None] = mapped_column(sa.ForeignKey('products.id'))"
FEATURED_COLUMN = "featured_product_id"

INDEX, UNIQUE = "ix_customers_phone", "uq_categories_name"
FK = "fk_categories_featured_product_id_products"
CHECK = "ck_customers_phone_not_null"


def _change_models(project: Path) -> None:
    models = project / "shop" / "models.py"
    source = models.read_text()
    assert PHONE in source and CATEGORY_NAME in source
    models.write_text(source.replace(PHONE, PHONE_REQUIRED_INDEXED, 1).replace(CATEGORY_NAME, CATEGORY_NAME_UNIQUE, 1))
    add_model_line(project, "Category", FEATURED)


def _generate(project: Path, url: str) -> str:
    """The revision, written by the autogenerate hook (plain Alembic's command through the env.py helper)."""
    import os
    import sys

    alembic = Path(sys.executable).with_name("alembic")
    result = subprocess.run([str(alembic), "revision", "--autogenerate", "-m", "safe by default"], cwd=project,
                            env={**os.environ, "DATABASE_URL": url}, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    [path] = (project / "migrations" / "versions").glob("*_safe_by_default.py")
    source = path.read_text()
    for form in ("postgresql_concurrently=True", "postgresql_not_valid=True", f"VALIDATE CONSTRAINT {CHECK}",
                 f"UNIQUE USING INDEX {UNIQUE}"):
        assert form in source, source  # the four rewritten forms, not Alembic's plain ones
    for line in source.splitlines():
        if line.startswith("revision"):
            return line.split("=", 1)[1].strip().strip("'\"")
    raise AssertionError(source)


def _state(url: str) -> dict[str, object]:
    """What the four changes look like in the catalog."""
    return {
        "invalid indexes": scalar(url, "SELECT count(*) FROM pg_index WHERE NOT indisvalid"),
        "index": scalar(url, f"SELECT indisvalid FROM pg_index WHERE indexrelid = to_regclass('{INDEX}')"),
        "foreign key validated": scalar(url, f"SELECT convalidated FROM pg_constraint WHERE conname = '{FK}'"),
        "phone not null": scalar(url, "SELECT attnotnull FROM pg_attribute WHERE attrelid = 'customers'::regclass "
                                      "AND attname = 'phone'"),
        "helper checks": scalar(url, f"SELECT count(*) FROM pg_constraint WHERE conname = '{CHECK}'"),
        "unique uses its index": scalar(url, f"SELECT count(*) FROM pg_constraint WHERE conname = '{UNIQUE}' AND "
                                             f"contype = 'u' AND conindid = to_regclass('{UNIQUE}')"),
        "version": scalar(url, "SELECT version_num FROM alembic_version"),
    }


def _converged(revision: str) -> dict[str, object]:
    return {"invalid indexes": 0, "index": True, "foreign key validated": True, "phone not null": True,
            "helper checks": 0, "unique uses its index": 1, "version": revision}


def _undo(url: str) -> None:
    """Back to the schema before the revision, for the next kills (test setup: not a recovery step)."""
    execute(url, f"DROP INDEX IF EXISTS {INDEX}",
            f"ALTER TABLE categories DROP CONSTRAINT IF EXISTS {UNIQUE}", f"DROP INDEX IF EXISTS {UNIQUE}",
            f"ALTER TABLE categories DROP COLUMN IF EXISTS {FEATURED_COLUMN}",
            f"ALTER TABLE customers DROP CONSTRAINT IF EXISTS {CHECK}",
            "ALTER TABLE customers ALTER COLUMN phone DROP NOT NULL",
            f"UPDATE alembic_version SET version_num = '{HEAD}'")


def _wait_for_revision(url: str, process: subprocess.Popen[str], journal: int) -> None:
    """Until the run has begun the revision (the journal records each attempt as it starts) or ended."""
    from sqlalchemy import create_engine, pool, text

    engine = create_engine(url, poolclass=pool.NullPool, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            while process.poll() is None:
                if conn.execute(text("SELECT count(*) FROM safemigrate_journal")).scalar() > journal:
                    return
                time.sleep(0.005)
    finally:
        engine.dispose()


def _sleep_while(process: subprocess.Popen[str], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.005)


def _timeline(project: Path, url: str, marks: Path, revision: str,
              env: dict[str, str]) -> tuple[float, float, float]:
    """A whole run, watched: (its duration, when the revision began, when it was recorded), from the start."""
    from sqlalchemy import create_engine, pool, text

    engine = create_engine(url, poolclass=pool.NullPool, isolation_level="AUTOCOMMIT")
    began = ended = None
    try:
        with engine.connect() as conn:
            journal = conn.execute(text("SELECT count(*) FROM safemigrate_journal")).scalar()
            started = time.monotonic()
            process = _start(project, url, marks, **env)
            while process.poll() is None:
                now = time.monotonic() - started
                if began is None and conn.execute(text("SELECT count(*) FROM safemigrate_journal")).scalar() > journal:
                    began = now
                if ended is None and conn.execute(text("SELECT version_num FROM alembic_version")).scalar() == revision:
                    ended = now
                time.sleep(0.005)
            duration = time.monotonic() - started
    finally:
        engine.dispose()
    assert process.communicate()[0] is not None and process.returncode == 0
    assert began is not None and ended is not None and began < ended, (began, ended)
    return duration, began, ended


def test_kill_9_at_random_moments_of_a_generated_revision_every_rerun_converges(shop, pg_url, pg_server, tmp_path):
    upgrade(shop, pg_url)
    execute(pg_url,
            "INSERT INTO customers (email, full_name, phone) "
            f"SELECT 'c' || g || '@example.com', 'C ' || g, '555-' || g FROM generate_series(1, {ROWS}) g",
            "INSERT INTO categories (name, slug) SELECT 'Category ' || g, 'category-' || g "
            "FROM generate_series(1, 2000) g")
    execute(pg_url, "ANALYZE")
    _change_models(shop)
    revision = _generate(shop, pg_url)
    marks = tmp_path / "marks"  # test_journal's helpers pass a marks folder; this revision does not use it
    marks.mkdir()
    scratch = {"SAFEMIGRATE_SCRATCH_URL": pg_server}  # a PostgreSQL revision is rehearsed on PostgreSQL

    whole = _migrate(shop, pg_url, marks, **scratch)  # one whole run first, which also creates safemigrate's tables
    assert whole.returncode == 0, whole.stdout + whole.stderr
    assert _state(pg_url) == _converged(revision)
    _undo(pg_url)
    duration, began, ended = _timeline(shop, pg_url, marks, revision, scratch)
    _undo(pg_url)

    pristine = _state(pg_url)
    rng = random.Random(pg_url)
    outcomes = {"killed before the revision": 0, "killed inside it": 0, "left it half done": 0,
                "left an INVALID index": 0, "finished first": 0}
    recovered = 0  # runs that finished the revision after one or more kills
    in_a_row = 0
    for kill in range(KILLS):
        before = scalar(pg_url, "SELECT count(*) FROM safemigrate_journal")
        process = _start(shop, pg_url, marks, **scratch)
        if kill % 3:  # two kills in three while the revision runs: its steps are a small part of the run
            _wait_for_revision(pg_url, process, before)
            _sleep_while(process, rng.uniform(0.0, ended - began + 0.05))
        else:  # any moment of the run
            _sleep_while(process, rng.uniform(0.0, duration))
        finished = process.poll() is not None
        if finished:
            output = process.communicate()[0]
            assert process.returncode == 0, output
        else:
            _kill(process)
            if kill % 2:  # the server ends the statement too, as with client_connection_check_interval set:
                _terminate_sessions(pg_url)  # a CONCURRENTLY build stops half way and leaves an INVALID index
        _wait_settled(pg_url)  # otherwise the server finishes the statement it was running, then ends the session
        state = _state(pg_url)
        if finished or state["version"] == revision:
            outcomes["finished first"] += 1
            assert state == _converged(revision), (kill, state)
            recovered += in_a_row > 0
        else:
            touched = scalar(pg_url, "SELECT count(*) FROM safemigrate_journal") > before
            outcomes["killed inside it" if touched else "killed before the revision"] += 1
            outcomes["left it half done"] += state != pristine  # a NOT VALID constraint, a column...
            outcomes["left an INVALID index"] += bool(state["invalid indexes"])
            in_a_row += 1
            if in_a_row < RERUN_EVERY and kill < KILLS - 1:
                continue  # the next run is the rerun, and is killed too
        if state["version"] != revision:
            rerun = _migrate(shop, pg_url, marks, **scratch)  # no SQL by hand, no `ledger resolve`
            recovered += 1
            assert rerun.returncode == 0, (kill, state, rerun.stdout + rerun.stderr)
            assert _state(pg_url) == _converged(revision), kill
        in_a_row = 0
        _undo(pg_url)

    assert outcomes["killed inside it"] >= KILLS // 3, outcomes  # the kills did land inside the revision
    assert outcomes["left it half done"] >= KILLS // 5, outcomes  # and between its committed steps
    assert outcomes["left an INVALID index"] >= 1, outcomes  # its cleanup ran, and no INVALID index stayed
    assert recovered >= KILLS // (2 * RERUN_EVERY), (recovered, outcomes)
    assert _open_attempts(pg_url) == []  # each rerun that finished closed the attempts it finished


def _terminate_sessions(url: str) -> None:
    from sqlalchemy import create_engine, pool, text

    engine = create_engine(url, poolclass=pool.NullPool, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                              "WHERE datname = current_database() AND pid <> pg_backend_pid()"))
    finally:
        engine.dispose()


def _open_attempts(url: str) -> list[str]:
    from sqlalchemy import create_engine, pool

    from safemigrate.state import ledger

    engine = create_engine(url, poolclass=pool.NullPool)
    try:
        with engine.connect() as conn:
            return [item.describe() for item in ledger.interrupted(conn)]
    finally:
        engine.dispose()
