"""Safe by default (issue #11, first slice): what safemigrate writes passes its own lint on PostgreSQL.

Development auto-sync and ``ci autofix`` generate revisions through safemigrate's
autogenerate hook, which rewrites an index on an existing table into a
CONCURRENTLY build in an autocommit block and a foreign key into NOT VALID +
VALIDATE. These tests generate from the shop example against a real
PostgreSQL, lint what was written, apply it, and read the catalog.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import run_safemigrate
from helpers import add_model_line, execute, scalar, upgrade
from test_ci import HEAD, _log, ci, commit_all, git
from test_ci import repo as repo  # the git repository fixture of the ci tests

from safemigrate import Project
from safemigrate.core.errors import MigrationFailed

PHONE = "    phone: Mapped[str | None] = mapped_column(sa.String(32))\n"
PHONE_INDEXED = "    phone: Mapped[str | None] = mapped_column(sa.String(32), index=True)\n"
FEATURED = ("featured_product_id: Mapped[int | None] = mapped_column(sa.ForeignKey('products.id'))")
INDEX = "ix_customers_phone"
FK = "fk_categories_featured_product_id_products"

pytestmark = pytest.mark.postgres


def _index_phone(project: Path) -> None:
    models = project / "shop" / "models.py"
    source = models.read_text()
    assert PHONE in source
    models.write_text(source.replace(PHONE, PHONE_INDEXED, 1))


def _index_state(url: str, name: str = INDEX) -> str | None:
    """'valid', 'invalid', or None when there is no such index."""
    valid = scalar(url, f"SELECT indisvalid FROM pg_index WHERE indexrelid = to_regclass('{name}')")
    return None if valid is None else ("valid" if valid else "invalid")


def _autosync(project: Path, url: str, server: str):
    return Project.from_pyproject(project, database_url=url, scratch_url=server, environment="development").migrate()


def _lint(project: Path, url: str, server: str, revision: str):
    return Project.from_pyproject(project, database_url=url, scratch_url=server).lint(f"{HEAD}:{revision}")


def _revision_id(path: Path) -> str:
    for line in path.read_text().splitlines():
        if line.startswith("revision"):
            return line.split("=", 1)[1].strip().strip("'\"")
    raise AssertionError(f"no revision id in {path}")


def test_autosync_writes_a_concurrent_index_and_a_not_valid_foreign_key_that_lint_passes(shop, pg_url, pg_server):
    upgrade(shop, pg_url)
    execute(pg_url, "INSERT INTO customers (email, full_name, phone) VALUES ('a@example.com', 'A', '555')")
    _index_phone(shop)
    add_model_line(shop, "Category", FEATURED)

    report = _autosync(shop, pg_url, pg_server)

    assert report.ok, report
    assert len(report.generated) == 1
    path = shop / report.generated[0]
    source = path.read_text()
    assert "with op.get_context().autocommit_block():" in source
    assert ("op.create_index(op.f('ix_customers_phone'), 'customers', ['phone'], unique=False, "
            "postgresql_concurrently=True, if_not_exists=True)") in source
    assert "op.drop_index(op.f('ix_customers_phone'), table_name='customers', postgresql_concurrently=True, " \
           "if_exists=True)" in source  # the INVALID leftover, and the downgrade
    assert "postgresql_not_valid=True" in source
    assert f"op.execute('ALTER TABLE categories VALIDATE CONSTRAINT {FK}')" in source

    lint = _lint(shop, pg_url, pg_server, _revision_id(path))
    assert lint.revisions == [_revision_id(path)]
    assert not lint.blocking, [f.message for f in lint.blocking]

    assert _index_state(pg_url) == "valid"
    assert scalar(pg_url, f"SELECT convalidated FROM pg_constraint WHERE conname = '{FK}'") is True
    assert scalar(pg_url, "SELECT version_num FROM alembic_version") == _revision_id(path)


def test_the_cli_lint_reports_no_error_on_the_generated_revision(shop, pg_url, pg_server):
    upgrade(shop, pg_url)
    _index_phone(shop)
    path = shop / _autosync(shop, pg_url, pg_server).generated[0]

    result = run_safemigrate("lint", f"{HEAD}:{_revision_id(path)}", "--database-url", pg_url,
                             "--scratch-url", pg_server, "--format", "json", cwd=shop)

    assert result.returncode == 0, result.stdout + result.stderr
    findings = json.loads(result.stdout)["findings"]
    assert [f for f in findings if f["severity"] == "error"] == []


def test_a_rerun_after_an_interrupted_build_replaces_the_invalid_index(shop, pg_url, pg_server):
    upgrade(shop, pg_url)
    _index_phone(shop)
    path = shop / _autosync(shop, pg_url, pg_server).generated[0]
    revision = _revision_id(path)
    assert _index_state(pg_url) == "valid"
    # What an interrupted CREATE INDEX CONCURRENTLY leaves: the index, INVALID, and the revision not recorded.
    execute(pg_url, f"UPDATE pg_index SET indisvalid = false WHERE indexrelid = to_regclass('{INDEX}')",
            f"UPDATE alembic_version SET version_num = '{HEAD}'")
    assert _index_state(pg_url) == "invalid"

    upgrade(shop, pg_url)  # plain Alembic: the revision itself converges, not safemigrate's runner

    assert _index_state(pg_url) == "valid"
    assert scalar(pg_url, "SELECT version_num FROM alembic_version") == revision
    assert scalar(pg_url, f"SELECT count(*) FROM pg_class WHERE relname = '{INDEX}'") == 1


def test_a_rerun_after_a_failed_unique_build_converges_once_the_data_is_fixed(shop, pg_url, pg_server):
    upgrade(shop, pg_url)
    models = shop / "shop" / "models.py"
    models.write_text(models.read_text().replace(
        PHONE, "    phone: Mapped[str | None] = mapped_column(sa.String(32), index=True, unique=True)\n", 1))
    execute(pg_url, "INSERT INTO customers (email, full_name, phone) VALUES ('a@example.com', 'A', '555'), "
                    "('b@example.com', 'B', '555')")

    with pytest.raises(MigrationFailed, match="could not create unique index"):
        _autosync(shop, pg_url, pg_server)  # CREATE UNIQUE INDEX CONCURRENTLY fails on the duplicates

    assert _index_state(pg_url) == "invalid"
    execute(pg_url, "UPDATE customers SET phone = '556' WHERE email = 'b@example.com'")

    upgrade(shop, pg_url)

    assert _index_state(pg_url) == "valid"
    assert scalar(pg_url, f"SELECT indisunique FROM pg_index WHERE indexrelid = to_regclass('{INDEX}')") is True


def test_check_shows_the_concurrent_form_as_the_fix_for_a_missing_index(shop, pg_url, pg_server):
    upgrade(shop, pg_url)
    _index_phone(shop)

    live = Project.from_pyproject(shop, database_url=pg_url, scratch_url=pg_server).check_live()

    [difference] = [d for d in live.versus_models if d.kind == "add_index"]
    assert difference.sql == ["CREATE INDEX CONCURRENTLY IF NOT EXISTS ix_customers_phone ON customers (phone)"]
    assert "autocommit_block()" in difference.code and "postgresql_concurrently=True" in difference.code


def test_sqlite_output_is_unchanged(shop, sqlite_url):
    upgrade(shop, sqlite_url)
    _index_phone(shop)

    report = Project.from_pyproject(shop, database_url=sqlite_url, environment="development").migrate()

    source = (shop / report.generated[0]).read_text()
    assert "batch_op.create_index(batch_op.f('ix_customers_phone'), ['phone'], unique=False)" in source
    assert "concurrently" not in source and "autocommit_block" not in source
    assert scalar(sqlite_url, "SELECT count(*) FROM sqlite_master WHERE name = 'ix_customers_phone'") == 1


@pytest.mark.slow
def test_autofix_commits_an_added_index_instead_of_giving_up(repo, pg_server):
    _index_phone(repo)
    commit_all(repo, "merge: phone index without a migration")
    git(repo, "push", "--quiet", "origin", "main")
    before = git(repo, "rev-parse", "HEAD")

    result = ci(repo, "autofix", "--push", "--scratch-url", pg_server)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "lint-failed" not in result.stdout
    assert git(repo, "rev-list", "--count", f"{before}..origin/main") == "1"
    assert _log(repo, "origin/main")[0].startswith("autofix:")
    [added] = git(repo, "show", "--name-only", "--format=", "HEAD").splitlines()
    source = (repo / added).read_text()
    assert "postgresql_concurrently=True" in source and "autocommit_block" in source


def _alembic(project: Path, url: str, *args: str) -> str:
    import os
    import subprocess
    import sys

    alembic = Path(sys.executable).with_name("alembic")
    result = subprocess.run([str(alembic), *args], cwd=project, env={**os.environ, "DATABASE_URL": url},
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout + result.stderr


def test_plain_alembic_autogenerate_through_the_env_py_helper_writes_the_same_and_downgrades(shop, pg_url):
    upgrade(shop, pg_url)
    _index_phone(shop)

    _alembic(shop, pg_url, "revision", "--autogenerate", "-m", "phone index")

    [path] = (shop / "migrations" / "versions").glob("*_phone_index.py")
    source = path.read_text()
    assert "postgresql_concurrently=True, if_not_exists=True" in source and "autocommit_block" in source
    _alembic(shop, pg_url, "upgrade", "head")
    assert _index_state(pg_url) == "valid"
    _alembic(shop, pg_url, "downgrade", "-1")  # DROP INDEX CONCURRENTLY IF EXISTS, in an autocommit block
    assert _index_state(pg_url) is None
    assert scalar(pg_url, "SELECT version_num FROM alembic_version") == HEAD


# -- the rewriter on operation objects ------------------------------------------------------------
def _ops(*, check: bool = False):
    import sqlalchemy as sa
    from alembic.operations import ops
    from sqlalchemy.sql.elements import conv

    new_table = ops.CreateTableOp("coupons", [sa.Column("id", sa.Integer, primary_key=True),
                                              sa.Column("code", sa.String(20))])
    customers = [ops.CreateIndexOp("ix_customers_phone", "customers", ["phone"]),
                 ops.CreateForeignKeyOp(conv("fk_customers_coupon_id_coupons"), "customers", "coupons",
                                        ["coupon_id"], ["id"])]
    if check:
        # conv: the final name, as autogenerate gives it (the shop's naming convention would prefix it again)
        customers.append(ops.CreateCheckConstraintOp(conv("ck_customers_phone_length"), "customers",
                                                     sa.text("length(phone) > 3")))
    upgrade_ops = ops.UpgradeOps(ops=[
        new_table,
        ops.CreateIndexOp("ix_coupons_code", "coupons", ["code"]),
        ops.ModifyTableOps("customers", customers),
    ])
    return upgrade_ops, upgrade_ops.reverse()


def _alembic_renders_check_constraints() -> bool:
    from alembic.operations import ops

    try:
        _render(ops.UpgradeOps(ops=[ops.CreateCheckConstraintOp("ck", "t", "x > 0")]))
    except NotImplementedError:
        return False
    return True


needs_check_rendering = pytest.mark.skipif("not _alembic_renders_check_constraints()",
                                           reason="this Alembic cannot render create_check_constraint")


def _render(container) -> str:
    from alembic.autogenerate import render_python_code

    return render_python_code(container)


def test_only_tables_that_already_exist_are_rewritten_and_not_on_sqlite():
    from safemigrate.schema.safe_ops import rewrite_for

    upgrade_ops, downgrade_ops = _ops()
    before = _render(upgrade_ops), _render(downgrade_ops)
    assert rewrite_for("sqlite", upgrade_ops, downgrade_ops) == 0
    assert (_render(upgrade_ops), _render(downgrade_ops)) == before

    upgrade_ops, downgrade_ops = _ops()  # MySQL/MariaDB: the index on customers, up and down, says its ALGORITHM
    assert rewrite_for("mysql", upgrade_ops, downgrade_ops) == 2
    up, down = _render(upgrade_ops), _render(downgrade_ops)
    assert "ADD INDEX ix_customers_phone (phone), ALGORITHM=INPLACE, LOCK=NONE" in up
    assert "op.create_index('ix_coupons_code', 'coupons', ['code'], unique=False)" in up
    assert "DROP INDEX ix_customers_phone, ALGORITHM=INPLACE, LOCK=NONE" in down

    upgrade_ops, downgrade_ops = _ops()
    assert rewrite_for("postgresql", upgrade_ops, downgrade_ops) == 3  # index and foreign key up, index down
    up, down = _render(upgrade_ops), _render(downgrade_ops)
    assert "op.create_index('ix_coupons_code', 'coupons', ['code'], unique=False)" in up  # a new table
    assert ("op.create_index('ix_customers_phone', 'customers', ['phone'], unique=False, "
            "postgresql_concurrently=True, if_not_exists=True)") in up
    assert ("op.create_foreign_key(op.f('fk_customers_coupon_id_coupons'), 'customers', 'coupons', "
            "['coupon_id'], ['id'], postgresql_not_valid=True)") in up
    assert "op.execute('ALTER TABLE customers VALIDATE CONSTRAINT fk_customers_coupon_id_coupons')" in up
    assert ("op.drop_index('ix_customers_phone', table_name='customers', postgresql_concurrently=True, "
            "if_exists=True)") in down
    assert "op.drop_index('ix_coupons_code', table_name='coupons')" in down
    for code in (up, down):
        compile("def upgrade():\n" + code, "<generated>", "exec")


@needs_check_rendering
def test_a_rewritten_check_constraint_applies_validated_and_passes_lint(shop, pg_url, pg_server):
    from alembic.operations import ops

    from safemigrate.schema.safe_ops import rewrite_for

    upgrade(shop, pg_url)
    upgrade_ops, _ = _ops(check=True)
    [customers] = upgrade_ops.ops[2:]
    customers.ops = [customers.ops[0], customers.ops[2]]  # the index and the check: there is no coupons table
    assert rewrite_for("postgresql", upgrade_ops, ops.DowngradeOps(ops=[])) == 2
    upgrade_ops.ops = upgrade_ops.ops[2:]
    rendered = _render(upgrade_ops)
    assert "op.create_check_constraint(op.f('ck_customers_phone_length'), 'customers', " in rendered
    assert "op.execute('ALTER TABLE customers VALIDATE CONSTRAINT ck_customers_phone_length')" in rendered
    (shop / "migrations" / "versions" / "c0ffee000001_phone_check.py").write_text(
        '"""phone check"""\nimport sqlalchemy as sa\nfrom alembic import op\n\nrevision = "c0ffee000001"\n'
        f'down_revision = "{HEAD}"\nbranch_labels = None\ndepends_on = None\n\n\n'
        f"def upgrade() -> None:\n{rendered}\n\ndef downgrade() -> None:\n    pass\n")

    lint = _lint(shop, pg_url, pg_server, "c0ffee000001")
    assert not lint.blocking, [f.message for f in lint.blocking]
    upgrade(shop, pg_url)
    assert scalar(pg_url, "SELECT convalidated FROM pg_constraint WHERE conname = 'ck_customers_phone_length'")
    assert _index_state(pg_url) == "valid"


# -- nullable=False and a unique constraint on existing tables ------------------------------------
PHONE_REQUIRED = "    phone: Mapped[str] = mapped_column(sa.String(32))\n"
CATEGORY_NAME = "    name: Mapped[str] = mapped_column(sa.String(100))\n"
CATEGORY_NAME_UNIQUE = "    name: Mapped[str] = mapped_column(sa.String(100), unique=True)\n"
CHECK = "ck_customers_phone_not_null"
UNIQUE = "uq_categories_name"


def _require_phone_and_unique_category_names(project: Path) -> None:
    models = project / "shop" / "models.py"
    source = models.read_text()
    assert PHONE in source and CATEGORY_NAME in source
    models.write_text(source.replace(PHONE, PHONE_REQUIRED, 1).replace(CATEGORY_NAME, CATEGORY_NAME_UNIQUE, 1))


def _fill(url: str) -> None:
    execute(url, "INSERT INTO customers (email, full_name, phone) VALUES ('a@example.com', 'A', '555'), "
                 "('b@example.com', 'B', '556')",
            "INSERT INTO categories (name, slug) VALUES ('Board games', 'board-games')")  # and the seeded ones


def _phone_nullable(url: str) -> str:
    return scalar(url, "SELECT is_nullable FROM information_schema.columns "
                       "WHERE table_name = 'customers' AND column_name = 'phone'")


def _unique_state(url: str) -> tuple[str | None, bool]:
    """The unique constraint's index ('valid', 'invalid', None) and whether the constraint uses it."""
    attached = scalar(url, f"SELECT count(*) FROM pg_constraint WHERE conname = '{UNIQUE}' AND contype = 'u' "
                           f"AND conindid = to_regclass('{UNIQUE}')")
    return _index_state(url, UNIQUE), attached == 1


def _assert_converged(url: str) -> None:
    assert _phone_nullable(url) == "NO"
    assert scalar(url, "SELECT count(*) FROM pg_constraint WHERE conname LIKE 'ck_%_not_null'") == 0
    assert _unique_state(url) == ("valid", True)


def test_autosync_writes_not_null_through_a_validated_check_and_a_unique_constraint_using_an_index(
        shop, pg_url, pg_server):
    upgrade(shop, pg_url)
    _fill(pg_url)
    _require_phone_and_unique_category_names(shop)

    report = _autosync(shop, pg_url, pg_server)

    assert report.ok, report
    path = shop / report.generated[0]
    source = path.read_text()
    assert "from safemigrate import allow" in source
    assert (f"op.create_check_constraint(op.f('{CHECK}'), 'customers', 'phone IS NOT NULL', "
            "postgresql_not_valid=True)") in source
    assert f"op.execute('ALTER TABLE customers VALIDATE CONSTRAINT {CHECK}')" in source
    assert (f"with allow('set-not-null', 'customers.phone', reason='validated check {CHECK} proves it'):"
            in source)
    assert f"op.drop_constraint(op.f('{CHECK}'), 'customers', type_='check')" in source
    assert (f"op.create_index(op.f('{UNIQUE}'), 'categories', ['name'], unique=True, "
            "postgresql_concurrently=True, if_not_exists=True)") in source
    assert f"op.execute('ALTER TABLE categories ADD CONSTRAINT {UNIQUE} UNIQUE USING INDEX {UNIQUE}')" in source
    # the validation and SET NOT NULL come after the ADD has committed
    recipe = source[source.index("create_check_constraint"):]
    assert 0 < recipe.index("autocommit_block") < recipe.index("VALIDATE CONSTRAINT") < recipe.index(
        "nullable=False") < recipe.index("drop_constraint")

    lint = _lint(shop, pg_url, pg_server, _revision_id(path))
    assert lint.revisions == [_revision_id(path)]
    assert not lint.blocking, [f.message for f in lint.blocking]

    _assert_converged(pg_url)
    assert scalar(pg_url, "SELECT version_num FROM alembic_version") == _revision_id(path)


def test_not_null_and_unique_reruns_converge_after_an_interruption_at_each_step(shop, pg_url, pg_server):
    upgrade(shop, pg_url)
    _fill(pg_url)
    _require_phone_and_unique_category_names(shop)
    revision = _revision_id(shop / _autosync(shop, pg_url, pg_server).generated[0])
    undo = ["ALTER TABLE customers ALTER COLUMN phone DROP NOT NULL",
            f"ALTER TABLE categories DROP CONSTRAINT IF EXISTS {UNIQUE}",
            f"UPDATE alembic_version SET version_num = '{HEAD}'"]
    interrupted = {
        # killed after the ADD committed: the check is there, NOT VALID; no index yet
        "check added": [f"ALTER TABLE customers ADD CONSTRAINT {CHECK} CHECK (phone IS NOT NULL) NOT VALID"],
        # killed during CREATE UNIQUE INDEX CONCURRENTLY: the index is there, INVALID
        "index interrupted": [f"ALTER TABLE customers ADD CONSTRAINT {CHECK} CHECK (phone IS NOT NULL) NOT VALID",
                              f"ALTER TABLE customers VALIDATE CONSTRAINT {CHECK}",
                              f"CREATE UNIQUE INDEX {UNIQUE} ON categories (name)",
                              f"UPDATE pg_index SET indisvalid = false WHERE indexrelid = to_regclass('{UNIQUE}')"],
        # killed after SET NOT NULL, before the check was dropped; the index built, not attached
        "not null set": [f"ALTER TABLE customers ADD CONSTRAINT {CHECK} CHECK (phone IS NOT NULL)",
                         "ALTER TABLE customers ALTER COLUMN phone SET NOT NULL",
                         f"CREATE UNIQUE INDEX {UNIQUE} ON categories (name)"],
        # killed after every step but the version stamp
        "all done": ["ALTER TABLE customers ALTER COLUMN phone SET NOT NULL",
                     f"ALTER TABLE categories ADD CONSTRAINT {UNIQUE} UNIQUE (name)"],
    }
    for moment, statements in interrupted.items():
        execute(pg_url, *undo, *statements)

        upgrade(shop, pg_url)  # plain Alembic: the revision itself converges

        assert scalar(pg_url, "SELECT version_num FROM alembic_version") == revision, moment
        _assert_converged(pg_url)
        assert scalar(pg_url, f"SELECT count(*) FROM pg_class WHERE relname = '{UNIQUE}'") == 1, moment


def test_not_null_keeps_a_type_change_of_the_same_column_as_alembic_wrote_it():
    import sqlalchemy as sa
    from alembic.operations import ops

    from safemigrate.schema.safe_ops import rewrite_for

    upgrade_ops = ops.UpgradeOps(ops=[ops.ModifyTableOps("customers", [
        ops.AlterColumnOp("customers", "phone", existing_type=sa.String(32), existing_nullable=True,
                          modify_nullable=False, modify_type=sa.String(64))])])
    downgrade_ops = upgrade_ops.reverse()

    assert rewrite_for("postgresql", upgrade_ops, downgrade_ops) == 1
    up, down = _render(upgrade_ops), _render(downgrade_ops)
    assert "type_=sa.String(length=64)" in up and "existing_nullable=True" in up
    assert up.index("type_=sa.String(length=64)") < up.index("create_check_constraint")
    assert "existing_type=sa.String(length=64),\n               nullable=False)" in up
    assert "nullable=True" in down and "check" not in down
    compile("def upgrade():\n" + up, "<generated>", "exec")


def test_sqlite_output_of_not_null_and_unique_is_unchanged(shop, sqlite_url):
    upgrade(shop, sqlite_url)
    _require_phone_and_unique_category_names(shop)

    report = Project.from_pyproject(shop, database_url=sqlite_url, environment="development").migrate()

    source = (shop / report.generated[0]).read_text()
    assert "batch_op.create_unique_constraint(batch_op.f('uq_categories_name'), ['name'])" in source
    assert "nullable=False" in source
    assert "allow" not in source and "autocommit_block" not in source and "check" not in source


@pytest.mark.slow
def test_autofix_commits_not_null_and_a_unique_constraint_that_pass_lint(repo, pg_server):
    _require_phone_and_unique_category_names(repo)
    commit_all(repo, "merge: phone required, category names unique, without a migration")
    git(repo, "push", "--quiet", "origin", "main")
    before = git(repo, "rev-parse", "HEAD")

    result = ci(repo, "autofix", "--push", "--scratch-url", pg_server)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "lint-failed" not in result.stdout
    assert git(repo, "rev-list", "--count", f"{before}..origin/main") == "1"
    [added] = git(repo, "show", "--name-only", "--format=", "HEAD").splitlines()
    source = (repo / added).read_text()
    assert "from safemigrate import allow" in source and f"VALIDATE CONSTRAINT {CHECK}" in source
    assert f"UNIQUE USING INDEX {UNIQUE}" in source


# -- rerun after an interruption: guarded steps and the rerun-converges sign-off ----------------------
def test_a_revision_of_convergent_steps_is_signed_rerunnable_and_one_with_another_step_is_not(tmp_path):
    import sqlalchemy as sa
    from alembic.operations import ops

    from safemigrate.schema.safe_ops import reruns_converge, rewrite_for

    upgrade_ops, downgrade_ops = _ops()
    upgrade_ops.ops[2].ops.insert(0, ops.AddColumnOp("customers", sa.Column("coupon_id", sa.Integer)))
    assert rewrite_for("postgresql", upgrade_ops, downgrade_ops) == 3
    up = _render(upgrade_ops)
    assert up.index("# safemigrate: rerun-converges") < up.index("op.create_table('coupons'")
    # what the first autocommit block commits with it is guarded too: a rerun finds it there and goes on
    assert "'SELECT 1 WHERE to_regclass(:name) IS NOT NULL'), {'name': 'coupons'}).first():" in up
    assert "{'table': 'customers', 'column': 'coupon_id'}).first():\n        op.add_column('customers'" in up
    assert "rerun-converges" not in _render(downgrade_ops)
    signed = tmp_path / "signed.py"
    signed.write_text("def upgrade():\n" + up)
    assert reruns_converge(signed)
    compile(signed.read_text(), str(signed), "exec")

    upgrade_ops, downgrade_ops = _ops()
    upgrade_ops.ops.append(ops.ExecuteSQLOp("UPDATE customers SET phone = '0' || phone"))  # must not run twice
    assert rewrite_for("postgresql", upgrade_ops, downgrade_ops) == 3
    unsigned = tmp_path / "unsigned.py"
    unsigned.write_text("def upgrade():\n" + _render(upgrade_ops))
    assert "rerun-converges" not in unsigned.read_text() and not reruns_converge(unsigned)
    # the comment counts only as a comment
    (tmp_path / "string.py").write_text('NOTE = "# safemigrate: rerun-converges"\n')
    assert not reruns_converge(tmp_path / "string.py")


def test_a_signed_revision_interrupted_after_a_committed_step_is_rerun_and_its_attempt_closed(shop, pg_url, pg_server):
    """The runner reruns it instead of refusing it as an interrupted revision (tests/runner/test_journal.py)."""
    upgrade(shop, pg_url)
    _index_phone(shop)
    add_model_line(shop, "Category", FEATURED)
    _alembic(shop, pg_url, "revision", "--autogenerate", "-m", "phone index")
    [path] = (shop / "migrations" / "versions").glob("*_phone_index.py")
    assert "# safemigrate: rerun-converges" in path.read_text()
    # what a kill inside the index build leaves: the column and the NOT VALID key committed, an INVALID index,
    # and the journal's open attempt with its committed steps
    first = run_safemigrate("migrate", "--env", "development", "--database-url", pg_url, "--scratch-url", pg_server,
                            cwd=shop)
    assert first.returncode == 0, first.stdout + first.stderr
    attempt = scalar(pg_url, "SELECT attempt FROM safemigrate_history WHERE action = 'applied' "
                             f"AND revision = '{_revision_id(path)}'")
    execute(pg_url, f"DELETE FROM safemigrate_history WHERE attempt = '{attempt}'",
            f"UPDATE pg_index SET indisvalid = false WHERE indexrelid = to_regclass('{INDEX}')",
            f"ALTER TABLE categories DROP CONSTRAINT {FK}",
            f"ALTER TABLE categories ADD CONSTRAINT {FK} FOREIGN KEY (featured_product_id) REFERENCES products (id) "
            "NOT VALID",
            f"UPDATE alembic_version SET version_num = '{HEAD}'")

    rerun = run_safemigrate("migrate", "--env", "development", "--database-url", pg_url, "--scratch-url", pg_server,
                            cwd=shop)

    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert _index_state(pg_url) == "valid"
    assert scalar(pg_url, f"SELECT convalidated FROM pg_constraint WHERE conname = '{FK}'") is True
    assert scalar(pg_url, "SELECT version_num FROM alembic_version") == _revision_id(path)
    assert scalar(pg_url, "SELECT count(*) FROM safemigrate_history WHERE action = 'resolved' "
                          f"AND attempt = '{attempt}'") == 1
    # closed in the transaction that bumped the version: a kill right after that commit leaves nothing open
    assert scalar(pg_url, "SELECT h.xmin::text = v.xmin::text FROM safemigrate_history h, alembic_version v "
                          f"WHERE h.action = 'resolved' AND h.attempt = '{attempt}'") is True


def test_check_shows_the_safe_sql_for_not_null(shop, pg_url, pg_server):
    # the SQL beside the code is the same steps as the code: a validated check proves NOT NULL first
    upgrade(shop, pg_url)
    models = shop / "shop" / "models.py"
    models.write_text(models.read_text().replace(
        "phone: Mapped[str | None] = mapped_column(sa.String(32))",
        "phone: Mapped[str] = mapped_column(sa.String(32), nullable=False)", 1))

    live = Project.from_pyproject(shop, database_url=pg_url, scratch_url=pg_server).check_live()

    [difference] = [d for d in live.versus_models if d.kind == "modify_nullable"]
    check = "ck_customers_phone_not_null"
    assert difference.sql == [
        f"ALTER TABLE customers ADD CONSTRAINT {check} CHECK (phone IS NOT NULL) NOT VALID",
        f"ALTER TABLE customers VALIDATE CONSTRAINT {check}",
        "ALTER TABLE customers ALTER COLUMN phone SET NOT NULL",
        f"ALTER TABLE customers DROP CONSTRAINT {check}"]
    assert check in difference.code
