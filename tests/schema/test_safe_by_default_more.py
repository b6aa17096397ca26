"""Safe by default (issue #11), the operations beyond the first four: a primary key added to an existing table.

Each test writes a small revision whose body is what safemigrate renders for the operation, lints it with
safemigrate's own lint, applies it to a real PostgreSQL and reads the catalog; then undoes a step, as a kill
would have left it, and applies it again.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import execute, scalar, upgrade
from test_ci import HEAD

from safemigrate import Project

pytestmark = pytest.mark.postgres

LEGACY = "c0ffee000010"


def _render(upgrade_ops) -> str:
    from alembic.autogenerate import render_python_code

    return render_python_code(upgrade_ops)


def _write_revision(project: Path, revision: str, down: str, body: str, imports: str = "") -> None:
    (project / "migrations" / "versions" / f"{revision}_step.py").write_text(
        f'"""step {revision}"""\nimport sqlalchemy as sa\nfrom alembic import op\n{imports}\n'
        f'revision = "{revision}"\ndown_revision = "{down}"\nbranch_labels = None\ndepends_on = None\n\n\n'
        f"def upgrade() -> None:\n{body}\n\ndef downgrade() -> None:\n    pass\n")


def _legacy_table(project: Path) -> None:
    """A revision creating a table without a primary key, as old schemas have them."""
    _write_revision(project, LEGACY, HEAD, "    op.create_table('legacy_codes', sa.Column('code', sa.String(20)), "
                                           "sa.Column('label', sa.Text()))\n")


def _lint_blocking(project: Path, url: str, server: str, span: str) -> list[str]:
    lint = Project.from_pyproject(project, database_url=url, scratch_url=server).lint(span)
    return [f.message for f in lint.blocking]


def test_a_primary_key_on_an_existing_table_is_built_concurrently_after_not_null_and_passes_lint(
        shop, pg_url, pg_server):
    from alembic.operations import ops

    from safemigrate.schema.safe_ops import rewrite_for

    _legacy_table(shop)
    upgrade(shop, pg_url)
    execute(pg_url, "INSERT INTO legacy_codes SELECT 'c' || g, 'label' FROM generate_series(1, 500) g")
    upgrade_ops = ops.UpgradeOps(ops=[ops.CreatePrimaryKeyOp(None, "legacy_codes", ["code"])])
    assert rewrite_for("postgresql", upgrade_ops, ops.DowngradeOps(ops=[])) == 1
    body = _render(upgrade_ops)
    assert "op.create_check_constraint(op.f('ck_legacy_codes_code_not_null'), 'legacy_codes', 'code IS NOT NULL'" \
           in body
    assert ("op.create_index('legacy_codes_pkey', 'legacy_codes', ['code'], unique=True, "
            "postgresql_concurrently=True, if_not_exists=True)") in body
    assert ("op.execute('ALTER TABLE legacy_codes ADD CONSTRAINT legacy_codes_pkey PRIMARY KEY USING INDEX "
            "legacy_codes_pkey')") in body
    assert body.index("VALIDATE CONSTRAINT") < body.index("nullable=False") < body.index("create_index") \
        < body.index("PRIMARY KEY USING INDEX")
    _write_revision(shop, "c0ffee000011", LEGACY, body, imports="from safemigrate import allow\n")

    assert _lint_blocking(shop, pg_url, pg_server, f"{LEGACY}:c0ffee000011") == []
    upgrade(shop, pg_url)

    def state() -> tuple:
        return (scalar(pg_url, "SELECT count(*) FROM pg_constraint WHERE conname = 'legacy_codes_pkey' "
                               "AND contype = 'p' AND conindid = to_regclass('legacy_codes_pkey')"),
                scalar(pg_url, "SELECT attnotnull FROM pg_attribute WHERE attrelid = 'legacy_codes'::regclass "
                               "AND attname = 'code'"),
                scalar(pg_url, "SELECT count(*) FROM pg_constraint WHERE conname LIKE 'ck_%_not_null'"),
                scalar(pg_url, "SELECT count(*) FROM pg_index WHERE NOT indisvalid"),
                scalar(pg_url, "SELECT version_num FROM alembic_version"))

    assert state() == (1, True, 0, 0, "c0ffee000011")
    # killed during the index build: NOT NULL done, the index INVALID, nothing attached; the rerun converges
    execute(pg_url, "ALTER TABLE legacy_codes DROP CONSTRAINT legacy_codes_pkey",
            "ALTER TABLE legacy_codes ALTER COLUMN code DROP NOT NULL",
            "ALTER TABLE legacy_codes ADD CONSTRAINT ck_legacy_codes_code_not_null CHECK (code IS NOT NULL) NOT VALID",
            "CREATE UNIQUE INDEX legacy_codes_pkey ON legacy_codes (code)",
            "UPDATE pg_index SET indisvalid = false WHERE indexrelid = to_regclass('legacy_codes_pkey')",
            f"UPDATE alembic_version SET version_num = '{LEGACY}'")
    upgrade(shop, pg_url)
    assert state() == (1, True, 0, 0, "c0ffee000011")


# -- a column with a volatile default -------------------------------------------------------------------
TOKEN = "token: Mapped[str] = mapped_column(sa.Uuid, server_default=sa.text('gen_random_uuid()'))"
SCORE = "score: Mapped[float | None] = mapped_column(sa.Float, server_default=sa.text('random()'))"


def test_a_column_with_a_volatile_default_is_added_empty_then_backfilled_in_batches_and_passes_lint(
        shop, pg_url, pg_server):
    from helpers import add_model_line

    upgrade(shop, pg_url)
    execute(pg_url, "INSERT INTO customers (email, full_name) "
                    "SELECT 'c' || g || '@example.com', 'C' FROM generate_series(1, 2500) g")
    add_model_line(shop, "Customer", TOKEN)  # NOT NULL, every row must get its own value
    add_model_line(shop, "Customer", SCORE)  # nullable

    report = Project.from_pyproject(shop, database_url=pg_url, scratch_url=pg_server,
                                    environment="development").migrate()

    assert report.ok, report
    path = shop / report.generated[0]
    source = path.read_text()
    assert "from safemigrate.schema.backfill import backfill" in source
    assert "op.add_column('customers', sa.Column('token', sa.Uuid(), nullable=True))" in source
    assert "server_default=sa.text('gen_random_uuid()'))" in source
    assert ("backfill(op.get_bind(), 'customers', 'token', 'gen_random_uuid()', batch_size=1000, pause=0.05)"
            in source)
    assert "backfill(op.get_bind(), 'customers', 'score', 'random()'" in source
    assert "ck_customers_token_not_null" in source and "ck_customers_score_not_null" not in source
    revision = path.name.split("_", 1)[0]
    assert _lint_blocking(shop, pg_url, pg_server, f"{HEAD}:{revision}") == []
    assert scalar(pg_url, "SELECT count(*) FROM customers WHERE token IS NULL OR score IS NULL") == 0
    assert scalar(pg_url, "SELECT count(DISTINCT token) = count(*) FROM customers") is True  # one value per row
    assert scalar(pg_url, "SELECT attnotnull FROM pg_attribute WHERE attrelid = 'customers'::regclass "
                          "AND attname = 'token'") is True
    assert scalar(pg_url, "SELECT count(*) FROM pg_constraint WHERE conname LIKE 'ck_%_not_null'") == 0


def test_the_backfill_fills_only_the_empty_rows_in_bounded_batches_and_resumes(pg_url):
    from sqlalchemy import create_engine, pool

    from safemigrate.core.errors import UsageError
    from safemigrate.schema.backfill import backfill

    execute(pg_url, "CREATE TABLE items (id bigint PRIMARY KEY, n integer)",
            "INSERT INTO items SELECT g, NULL FROM generate_series(1, 2500) g",
            "UPDATE items SET n = -1 WHERE id % 10 = 0")  # as a killed earlier run would have left some
    engine = create_engine(pg_url, poolclass=pool.NullPool)
    try:
        with engine.connect() as conn:
            with pytest.raises(UsageError, match="autocommit"):
                backfill(conn, "items", "n", "id * 2")
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            result = backfill(conn, "items", "n", "id * 2", batch_size=1000, pause=0)
            again = backfill(conn, "items", "n", "id * 2", batch_size=1000, pause=0)
    finally:
        engine.dispose()

    assert (result.rows, result.batches) == (2250, 3)
    assert (again.rows, again.batches) == (0, 3)  # a rerun touches nothing filled
    assert scalar(pg_url, "SELECT count(*) FROM items WHERE n = -1") == 250
    assert scalar(pg_url, "SELECT count(*) FROM items WHERE n = id * 2") == 2250


def test_now_is_stable_and_stays_as_alembic_wrote_it():
    import sqlalchemy as sa

    from safemigrate.schema.safe_ops import volatile_default

    assert volatile_default(sa.Column("at", sa.DateTime, server_default=sa.text("now()"))) is None
    assert volatile_default(sa.Column("at", sa.DateTime, server_default=sa.func.now())) is None
    assert volatile_default(sa.Column("n", sa.Integer, server_default="0")) is None
    assert volatile_default(sa.Column("t", sa.Uuid, server_default=sa.text("public.gen_random_uuid()"))) \
        == "public.gen_random_uuid()"
    assert volatile_default(sa.Column("t", sa.Float, server_default=sa.text("floor(random() * 10)"))) \
        == "floor(random() * 10)"


# -- a type change that rewrites the table: kept, with the recipe, and still reported ---------------------
def test_a_rewriting_type_change_is_kept_with_the_safe_recipe_and_lint_still_reports_it(shop, pg_url, pg_server):
    import sqlalchemy as sa
    from alembic.operations import ops

    from safemigrate.schema.safe_ops import rewrite_for

    upgrade_ops = ops.UpgradeOps(ops=[ops.ModifyTableOps("customers", [
        ops.AlterColumnOp("customers", "loyalty_points", existing_type=sa.Integer(), existing_nullable=True,
                          modify_type=sa.BigInteger()),
        ops.AlterColumnOp("customers", "full_name", existing_type=sa.String(120), existing_nullable=False,
                          modify_type=sa.String(200)),  # widening a varchar relabels: no note
        ops.CreateIndexOp("ix_customers_phone", "customers", ["phone"])])])
    # the index and its drop in the downgrade; a note changes nothing
    assert rewrite_for("postgresql", upgrade_ops, upgrade_ops.reverse()) == 2
    body = _render(upgrade_ops)
    assert "# Changing customers.loyalty_points to BIGINT rewrites customers and rebuilds its indexes" in body
    assert "backfill(op.get_bind(), 'customers', 'loyalty_points_new'," in body
    assert body.count("# Changing") == 1
    assert ("op.alter_column('customers', 'loyalty_points',\n               existing_type=sa.INTEGER(),"
            in body.replace("sa.Integer()", "sa.INTEGER()"))
    assert "rerun-converges" not in body  # a rewrite run twice is no step that checks first
    upgrade(shop, pg_url)
    _write_revision(shop, "c0ffee000020", HEAD, body)

    lint = Project.from_pyproject(shop, database_url=pg_url, scratch_url=pg_server).lint(f"{HEAD}:c0ffee000020")

    # still reported; (the varchar widening is reported as a possible narrowing: the lint sees no old type)
    assert ("change-column-type", "customers.loyalty_points") in {(f.rule, f.target) for f in lint.blocking}


# -- MySQL/MariaDB: ALGORITHM/LOCK said in the code; SQLite: batch mode ---------------------------------
NICKNAME = "nickname: Mapped[str | None] = mapped_column(sa.String(40))"


@pytest.mark.mysql
def test_mariadb_autosync_writes_inplace_indexes_and_an_instant_column_that_apply_and_pass_lint(
        shop, mysql_url, mysql_server):
    from helpers import add_model_line

    upgrade(shop, mysql_url)
    models = shop / "shop" / "models.py"
    phone = "    phone: Mapped[str | None] = mapped_column(sa.String(32))\n"
    name = "    name: Mapped[str] = mapped_column(sa.String(100))\n"
    models.write_text(models.read_text().replace(phone, phone.replace("))", "), index=True)"), 1)
                      .replace(name, name.replace("))", "), unique=True)"), 1))
    add_model_line(shop, "Customer", NICKNAME)

    report = Project.from_pyproject(shop, database_url=mysql_url, scratch_url=mysql_server,
                                    environment="development").migrate()

    assert report.ok, report
    path = shop / report.generated[0]
    source = path.read_text()
    assert ("op.execute('ALTER TABLE customers ADD INDEX ix_customers_phone (phone), ALGORITHM=INPLACE, LOCK=NONE')"
            in source)
    assert ("op.execute('ALTER TABLE categories ADD CONSTRAINT uq_categories_name UNIQUE (name), "
            "ALGORITHM=INPLACE, LOCK=NONE')") in source
    assert "op.execute('ALTER TABLE customers ADD COLUMN nickname VARCHAR(40), ALGORITHM=INSTANT')" in source
    assert "# MySQL/MariaDB: ALGORITHM=INPLACE, LOCK=NONE builds it while reads and writes go on" in source
    assert "ALTER TABLE customers DROP INDEX ix_customers_phone, ALGORITHM=INPLACE, LOCK=NONE" in source  # downgrade
    revision = path.name.split("_", 1)[0]
    lint = Project.from_pyproject(shop, database_url=mysql_url, scratch_url=mysql_server).lint(f"{HEAD}:{revision}")
    assert [f.message for f in lint.blocking] == []
    assert scalar(mysql_url, "SELECT count(*) FROM information_schema.statistics WHERE table_schema = DATABASE() "
                             "AND index_name IN ('ix_customers_phone', 'uq_categories_name')") == 2
    assert scalar(mysql_url, "SELECT count(*) FROM information_schema.columns WHERE table_schema = DATABASE() "
                             "AND table_name = 'customers' AND column_name = 'nickname'") == 1
    # nothing left between the models and the database: the raw statements made what Alembic compares
    assert report.remaining_differences == []


def test_sqlite_keeps_batch_mode_for_an_index_a_column_and_not_null(shop, sqlite_url):
    from helpers import add_model_line

    upgrade(shop, sqlite_url)
    models = shop / "shop" / "models.py"
    phone = "    phone: Mapped[str | None] = mapped_column(sa.String(32))\n"
    models.write_text(models.read_text().replace(phone, "    phone: Mapped[str] = mapped_column(sa.String(32), "
                                                        "index=True)\n", 1))
    add_model_line(shop, "Customer", NICKNAME)

    report = Project.from_pyproject(shop, database_url=sqlite_url, environment="development").migrate()

    assert report.ok, report
    source = (shop / report.generated[0]).read_text()
    assert "with op.batch_alter_table('customers', schema=None) as batch_op:" in source
    assert "batch_op.add_column(sa.Column('nickname', sa.String(length=40), nullable=True))" in source
    assert "batch_op.create_index(batch_op.f('ix_customers_phone'), ['phone'], unique=False)" in source
    assert "nullable=False" in source
    for form in ("ALGORITHM", "autocommit_block", "concurrently", "rerun-converges"):
        assert form not in source
