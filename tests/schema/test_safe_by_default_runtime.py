"""``safe_by_default = true`` (issue #11): a hand-written revision's operations run in the safe forms.

The revision below is what a person writes without thinking of locks: a plain index, foreign key, unique
constraint and NOT NULL on tables that have rows. With the option on, the env.py helper runs the first three
as safemigrate's generated code would, so the SQL that reaches PostgreSQL (what lint captures from a real
upgrade, and what migrate sends) is the CONCURRENTLY / NOT VALID + VALIDATE / USING INDEX form. NOT NULL is
not rewritten at run time (its safe form needs sign-offs written in the revision file) and stays reported.
Off (the default), all four are reported by lint.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import execute, scalar, upgrade
from test_ci import HEAD
from test_safe_by_default_kills import _change_models

from safemigrate import Project

pytestmark = pytest.mark.postgres

HAND_WRITTEN = '''"""hand-written"""
import sqlalchemy as sa
from alembic import op

revision = "c0ffee000030"
down_revision = "{head}"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("categories", sa.Column("featured_product_id", sa.Integer()))
    op.create_index("ix_customers_phone", "customers", ["phone"])
    op.create_foreign_key("fk_categories_featured_product_id_products", "categories", "products",
                          ["featured_product_id"], ["id"])
    op.alter_column("customers", "phone", existing_type=sa.String(32), nullable=False)
    op.create_unique_constraint("uq_categories_name", "categories", ["name"])


def downgrade() -> None:
    pass
'''


def _project(shop: Path, pg_url: str, *, safe: bool) -> None:
    import tomlkit

    upgrade(shop, pg_url)
    execute(pg_url, "INSERT INTO customers (email, full_name, phone) "
                    "SELECT 'c' || g || '@example.com', 'C', '555-' || g FROM generate_series(1, 300) g")
    path = shop / "pyproject.toml"
    document = tomlkit.parse(path.read_text())
    if safe:
        document["tool"]["safemigrate"]["safe_by_default"] = True  # type: ignore[index]
    path.write_text(tomlkit.dumps(document))
    _change_models(shop)  # the models say what the revision does: auto-sync has nothing left to write
    (shop / "migrations" / "versions" / "c0ffee000030_hand_written.py").write_text(HAND_WRITTEN.format(head=HEAD))


def _lint_rules(shop: Path, pg_url: str, pg_server: str) -> set[str]:
    lint = Project.from_pyproject(shop, database_url=pg_url, scratch_url=pg_server).lint(f"{HEAD}:c0ffee000030")
    return {f.rule for f in lint.blocking}


def test_with_safe_by_default_hand_written_operations_run_safe_and_pass_lint(shop, pg_url, pg_server):
    _project(shop, pg_url, safe=True)

    assert _lint_rules(shop, pg_url, pg_server) == {"set-not-null"}
    report = Project.from_pyproject(shop, database_url=pg_url, scratch_url=pg_server,
                                    environment="development").migrate()

    assert [a.revision for a in report.applied] == ["c0ffee000030"] and report.generated == []
    assert report.ok, report
    assert scalar(pg_url, "SELECT indisvalid FROM pg_index WHERE indexrelid = to_regclass('ix_customers_phone')")
    assert scalar(pg_url, "SELECT convalidated FROM pg_constraint "
                          "WHERE conname = 'fk_categories_featured_product_id_products'")
    assert scalar(pg_url, "SELECT attnotnull FROM pg_attribute WHERE attrelid = 'customers'::regclass "
                          "AND attname = 'phone'") is True
    assert scalar(pg_url, "SELECT count(*) FROM pg_constraint WHERE conname = 'uq_categories_name' AND contype = 'u' "
                          "AND conindid = to_regclass('uq_categories_name')") == 1
    # what reached the server: the journal holds the steps that committed on their own
    steps = [s for (s,) in _rows(pg_url, "SELECT statement FROM safemigrate_journal WHERE step > 0 ORDER BY id")]
    assert any(s.startswith("CREATE INDEX CONCURRENTLY IF NOT EXISTS ix_customers_phone") for s in steps), steps
    assert any("VALIDATE CONSTRAINT fk_categories_featured_product_id_products" in s for s in steps), steps
    assert any(s.startswith("CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS uq_categories_name") for s in steps), steps


def test_without_it_the_same_revision_is_reported_by_lint(shop, pg_url, pg_server):
    _project(shop, pg_url, safe=False)

    rules = _lint_rules(shop, pg_url, pg_server)

    assert {"add-index-non-concurrently", "add-foreign-key-without-not-valid", "set-not-null",
            "add-unique-or-primary-key-without-index"} <= rules, rules


def _rows(url: str, sql: str) -> list[tuple]:
    from sqlalchemy import create_engine, pool, text

    engine = create_engine(url, poolclass=pool.NullPool)
    try:
        with engine.connect() as conn:
            return [tuple(r) for r in conn.execute(text(sql))]
    finally:
        engine.dispose()


def test_the_wrappers_are_in_alembics_registry_only_inside_the_block():
    from types import SimpleNamespace

    from alembic.operations import Operations

    from safemigrate.schema.safe_ops.runtime import rewriting

    registry = Operations._to_impl._registry
    before = dict(registry)
    with rewriting(SimpleNamespace(dialect=SimpleNamespace(name="sqlite"))):  # type: ignore[arg-type]
        assert registry == before  # other databases: nothing to rewrite
    with rewriting(SimpleNamespace(dialect=SimpleNamespace(name="postgresql"))):  # type: ignore[arg-type]
        assert registry != before
    assert registry == before
