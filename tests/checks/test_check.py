"""safemigrate check: models vs. migrations on a throwaway database."""

from __future__ import annotations

import json

import pytest
from conftest import run_safemigrate
from helpers import add_model_line
from sqlalchemy import create_engine, pool, text

from safemigrate import Project
from safemigrate.harness.scratch import PREFIX


def test_example_models_match_migrations_on_sqlite(shop):
    report = Project.from_pyproject(shop).check()
    assert report.ok, report.differences
    assert report.revisions_applied == 11
    assert report.heads == ["d5f6b1370600"]
    assert report.scratch.startswith("temporary SQLite file")


@pytest.mark.postgres
def test_example_models_match_migrations_on_postgres(shop, pg_server):
    report = Project.from_pyproject(shop, scratch_url=pg_server, dialect="postgresql").check()
    assert report.ok, [d.description for d in report.differences]
    assert report.notes == []


@pytest.mark.mysql
def test_example_models_match_migrations_on_mariadb(shop, mysql_server):
    report = Project.from_pyproject(shop, scratch_url=mysql_server, dialect="mysql").check()
    assert report.ok, [d.description for d in report.differences]


def test_added_column_and_index_are_reported_with_ddl(shop):
    add_model_line(shop, "Customer", "nickname: Mapped[str | None] = mapped_column(sa.String(40), index=True)")
    report = Project.from_pyproject(shop).check()
    assert not report.ok
    kinds = sorted((d.kind, d.table, d.object) for d in report.differences)
    assert kinds == [("add_column", "customers", "nickname"), ("add_index", "customers", "ix_customers_nickname")]
    sql = [s for d in report.differences for s in d.sql]
    assert sql == ["ALTER TABLE customers ADD COLUMN nickname VARCHAR(40)",
                   "CREATE INDEX ix_customers_nickname ON customers (nickname)"]
    column = next(d for d in report.differences if d.kind == "add_column")
    assert column.code == "op.add_column('customers', sa.Column('nickname', sa.String(length=40), nullable=True))"


@pytest.mark.postgres
def test_type_and_server_default_drift_rendered_for_postgres(shop, pg_server):
    models = shop / "shop" / "models.py"
    source = models.read_text()
    # widen a column type and change a server default, without a migration
    assert 'name: Mapped[str] = mapped_column(sa.String(120)' in source
    source = source.replace('name: Mapped[str] = mapped_column(sa.String(120)',
                            'name: Mapped[str] = mapped_column(sa.String(200)', 1)
    models.write_text(source)
    add_model_line(shop, "Product", 'rating: Mapped[int] = mapped_column(sa.Integer, server_default=sa.text("5"))')
    report = Project.from_pyproject(shop, scratch_url=pg_server, dialect="postgresql").check()
    descriptions = [d.description for d in report.differences]
    assert any("VARCHAR(120)" in d and "VARCHAR(200)" in d for d in descriptions), descriptions
    sql = [s for d in report.differences for s in d.sql]
    assert any(s.startswith("ALTER TABLE") and "TYPE VARCHAR(200)" in s for s in sql), sql
    assert "ALTER TABLE products ADD COLUMN rating INTEGER DEFAULT 5 NOT NULL" in sql


def test_removed_model_is_reported_as_table_to_drop(shop):
    models = shop / "shop" / "models.py"
    source = models.read_text()
    start = source.index("class Payment(")
    end = source.find("\nclass ", start + 1)
    models.write_text(source[:start] + (source[end + 1:] if end != -1 else ""))
    report = Project.from_pyproject(shop).check()
    assert ("remove_table", "payments") in [(d.kind, d.table) for d in report.differences]
    assert any(s == "DROP TABLE payments" for d in report.differences for s in d.sql)


def test_cli_json_shape_and_exit_codes(shop, cli):
    ok = cli("check", "--project", str(shop), "--format", "json")
    assert ok.exit_code == 0, ok.output
    data = json.loads(ok.stdout)
    assert data["schema_version"] == 1 and data["kind"] == "check"
    assert data["differences"] == [] and data["revisions_applied"] == 11
    add_model_line(shop, "Customer", "nickname: Mapped[str | None] = mapped_column(sa.String(40))")
    drift = run_safemigrate("check", "--format", "json", cwd=shop)  # a new process sees the edited models
    assert drift.returncode == 1, drift.stderr
    expected = ["ALTER TABLE customers ADD COLUMN nickname VARCHAR(40)"]
    assert json.loads(drift.stdout)["differences"][0]["sql"] == expected
    assert drift.stderr == ""


def test_cli_markdown(shop, cli):
    add_model_line(shop, "Customer", "nickname: Mapped[str | None] = mapped_column(sa.String(40))")
    result = cli("check", "--project", str(shop), "--format", "markdown")
    assert result.exit_code == 1
    assert "## safemigrate check: :x: models and migrations differ" in result.stdout
    assert "ALTER TABLE customers ADD COLUMN nickname VARCHAR(40);" in result.stdout


@pytest.mark.postgres
def test_throwaway_database_dropped_even_when_a_migration_fails(shop, pg_server, monkeypatch):
    import secrets
    import time

    from safemigrate.harness import scratch

    token = secrets.token_hex(6)  # this run's throwaway databases only: other tests run beside this one
    monkeypatch.setattr(scratch, "new_scratch_name", lambda: f"{PREFIX}{int(time.time())}_{token}")
    broken = shop / "migrations" / "versions" / "916a526e23a8_add_payments.py"
    source = broken.read_text()
    failing = "def upgrade() -> None:\n    op.execute('SELECT * FROM no_such_table')\n"
    broken.write_text(source.replace("def upgrade() -> None:\n", failing, 1))
    from safemigrate.core.errors import MigrationFailed

    with pytest.raises(MigrationFailed) as info:
        Project.from_pyproject(shop, scratch_url=pg_server).check()
    assert info.value.revision == "916a526e23a8"
    assert "916a526e23a8_add_payments.py" in info.value.what
    engine = create_engine(pg_server, poolclass=pool.NullPool)
    with engine.connect() as conn:
        left = conn.execute(text("SELECT count(*) FROM pg_database WHERE datname LIKE :p"),
                            {"p": f"{PREFIX}%_{token}"}).scalar()
    engine.dispose()
    assert left == 0


@pytest.mark.postgres
def test_stale_leftovers_older_than_an_hour_are_removed(shop, pg_server):
    stale = f"{PREFIX}1000000000_deadbeef"
    fresh_name = f"{PREFIX}9999999999_cafe0001"  # in the future: not stale
    engine = create_engine(pg_server, poolclass=pool.NullPool, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{stale}"'))
        conn.execute(text(f'CREATE DATABASE "{fresh_name}"'))
    try:
        Project.from_pyproject(shop, scratch_url=pg_server).check()
        with engine.connect() as conn:
            names = set(conn.execute(text("SELECT datname FROM pg_database")).scalars())
        assert stale not in names
        assert fresh_name in names
    finally:
        with engine.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{stale}"'))
            conn.execute(text(f'DROP DATABASE IF EXISTS "{fresh_name}"'))
        engine.dispose()
