"""The application start-up guard: require_current_revision / require_current_schema on real databases."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import execute, upgrade
from sqlalchemy import create_engine, pool, text
from sqlalchemy.engine import make_url

from safemigrate import (
    DatabaseUnreachable,
    Project,
    SafemigrateError,
    SchemaNotCurrent,
    require_current_revision,
    require_current_schema,
)
from safemigrate.startup import heads as headcache

HEAD = "d5f6b1370600"
BACKENDS = [pytest.param("pg_url", marks=pytest.mark.postgres), pytest.param("mysql_url", marks=pytest.mark.mysql),
            "sqlite_url"]

NEW_REVISION = '''"""add customer nickname

Revision ID: 0a1b2c3d4e5f
"""
import sqlalchemy as sa
from alembic import op

revision = "0a1b2c3d4e5f"
down_revision = "{down}"
branch_labels = None
depends_on = None


def upgrade():
    op.add_column("customers", sa.Column("nickname", sa.String(40)))


def downgrade():
    op.drop_column("customers", "nickname")
'''


@pytest.fixture
def imports(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Names of the revision files Alembic loads (imports) from now on."""
    from alembic import util

    loaded: list[str] = []
    original = util.load_python_file

    def spy(dir_, filename):
        if filename != "env.py":
            loaded.append(Path(filename).name)
        return original(dir_, filename)

    monkeypatch.setattr(util, "load_python_file", spy)
    return loaded


def _forget_process_memo() -> None:
    """What a fresh process would know: nothing but the cache file."""
    headcache._heads_memo.clear()


# -- at head --------------------------------------------------------------------------------
@pytest.mark.parametrize("backend", BACKENDS)
def test_database_at_head_and_matching_passes(shop, backend, request):
    url = request.getfixturevalue(backend)
    upgrade(shop, url)
    require_current_revision(url, shop)
    require_current_schema(url, shop)


def test_accepts_engine_connection_url_and_project(shop, sqlite_url, monkeypatch):
    upgrade(shop, sqlite_url)
    engine = create_engine(sqlite_url, poolclass=pool.NullPool)
    require_current_schema(engine, shop)
    with engine.connect() as conn:
        require_current_schema(conn, shop)
        assert not conn.in_transaction()  # the caller's connection is left as it was found
        with conn.begin():
            require_current_schema(conn, shop)
            assert conn.in_transaction()
    require_current_schema(make_url(sqlite_url), Project.from_pyproject(shop))
    monkeypatch.chdir(shop / "shop")  # project=None: found from the working directory
    require_current_schema(sqlite_url)
    engine.dispose()


# -- the revision ---------------------------------------------------------------------------
@pytest.mark.parametrize("backend", BACKENDS)
def test_database_behind_names_the_pending_count(shop, backend, request):
    url = request.getfixturevalue(backend)
    upgrade(shop, url, "4f241768b312")
    for guard in (require_current_revision, require_current_schema):
        with pytest.raises(SchemaNotCurrent) as caught:
            guard(url, shop)
        error = caught.value
        assert error.reason == "behind" and error.exit_code == 1 and isinstance(error, SafemigrateError)
        assert "is behind the code: 4 pending revision(s) (916a526e23a8, 36c914febd34, 359940d6ad08, " \
               f"{HEAD}); it is at 4f241768b312, the code's head is {HEAD}." in error.what
        assert error.why == "The application would fail on the tables and columns those revisions add."
        assert error.fix == ("Apply them with `safemigrate migrate` (or `alembic upgrade head`) before starting "
                             "the application.")
        assert error.pending == ["916a526e23a8", "36c914febd34", "359940d6ad08", HEAD]
        assert error.database_heads == ["4f241768b312"] and error.code_heads == [HEAD]


@pytest.mark.parametrize("backend", BACKENDS)
def test_unknown_revision_says_ahead_or_missing_file(shop, backend, request):
    url = request.getfixturevalue(backend)
    upgrade(shop, url)
    execute(url, "UPDATE alembic_version SET version_num='ffff00000000'")
    with pytest.raises(SchemaNotCurrent) as caught:
        require_current_revision(url, shop)
    error = caught.value
    assert error.reason == "unknown_revision"
    assert "is at revision ffff00000000, which this code does not have" in error.what
    assert "ahead of this code" in error.what and "revision file is missing" in error.what
    assert "Do not run migrations from this code" in error.fix


@pytest.mark.parametrize("backend", BACKENDS)
def test_empty_database_was_never_migrated(shop, backend, request):
    url = request.getfixturevalue(backend)
    with pytest.raises(SchemaNotCurrent) as caught:
        require_current_schema(url, shop)
    error = caught.value
    assert error.reason == "never_migrated"
    assert "has never been migrated: it has no alembic_version table (11 revision(s) to apply)" in error.what
    assert "safemigrate migrate" in error.fix


def test_empty_version_table_is_never_migrated(shop, sqlite_url):
    upgrade(shop, sqlite_url)
    execute(sqlite_url, "DELETE FROM alembic_version")
    with pytest.raises(SchemaNotCurrent, match="has no revision recorded in alembic_version"):
        require_current_revision(sqlite_url, shop)


def test_multiple_heads_in_code_are_refused(shop, sqlite_url):
    upgrade(shop, sqlite_url)
    versions = shop / "migrations" / "versions"
    for rev in ("aaaa00000001", "bbbb00000002"):
        (versions / f"{rev}_branch.py").write_text(
            NEW_REVISION.replace("0a1b2c3d4e5f", rev).format(down=HEAD))
    with pytest.raises(SchemaNotCurrent) as caught:
        require_current_revision(sqlite_url, shop)
    assert caught.value.reason == "multiple_heads"
    assert "has 2 heads (aaaa00000001, bbbb00000002)" in caught.value.what
    assert "alembic merge" in caught.value.fix


# -- the schema -----------------------------------------------------------------------------
@pytest.mark.parametrize("backend", BACKENDS)
def test_hand_dropped_column_fails_the_schema_check_only(shop, backend, request):
    url = request.getfixturevalue(backend)
    upgrade(shop, url)
    execute(url, "ALTER TABLE customers DROP COLUMN phone")
    require_current_revision(url, shop)
    with pytest.raises(SchemaNotCurrent) as caught:
        require_current_schema(url, shop)
    error = caught.value
    assert error.reason == "schema_differs"
    assert f"is at head ({HEAD}) but its schema does not serve the models: column customers.phone is missing." \
        in error.what
    assert error.why.startswith("The application's first query that uses a missing table or column would fail.")
    assert "safemigrate check --live" in error.fix
    require_current_schema(url, shop, check_schema=False)


@pytest.mark.parametrize("backend", [pytest.param("pg_url", marks=pytest.mark.postgres),
                                     pytest.param("mysql_url", marks=pytest.mark.mysql)])
def test_hand_added_columns_only_matter_when_inserts_would_fail(shop, backend, request):
    url = request.getfixturevalue(backend)
    upgrade(shop, url)
    execute(url, "ALTER TABLE customers ADD COLUMN nickname VARCHAR(40)",
            "ALTER TABLE customers ADD COLUMN tier INTEGER NOT NULL DEFAULT 0",
            "CREATE TABLE audit_log (id INTEGER NOT NULL PRIMARY KEY, body TEXT NOT NULL)",
            "CREATE INDEX ix_manual ON customers (full_name)")
    require_current_schema(url, shop)  # nullable, defaulted, extra table, extra index: harmless
    execute(url, "ALTER TABLE customers ADD COLUMN region VARCHAR(20) NOT NULL")
    with pytest.raises(SchemaNotCurrent) as caught:
        require_current_schema(url, shop)
    assert "column customers.region exists only in the database and is NOT NULL without a default" \
        in caught.value.what
    assert "every insert into those tables would fail" in caught.value.why
    assert caught.value.differences == [
        "column customers.region exists only in the database and is NOT NULL without a default"]


def test_hand_added_not_null_column_on_sqlite(shop, sqlite_url):
    upgrade(shop, sqlite_url)
    execute(sqlite_url, "ALTER TABLE payments ADD COLUMN memo TEXT",
            "ALTER TABLE payments ADD COLUMN kind TEXT NOT NULL DEFAULT 'card'")
    require_current_schema(sqlite_url, shop)
    execute(sqlite_url, "CREATE TABLE customers_new AS SELECT * FROM customers", "DROP TABLE customers",
            "CREATE TABLE customers (id INTEGER NOT NULL PRIMARY KEY, email VARCHAR(255) NOT NULL, "
            "full_name VARCHAR(120) NOT NULL, phone VARCHAR(32), is_active BOOLEAN DEFAULT '1' NOT NULL, "
            "loyalty_points INTEGER DEFAULT 0 NOT NULL, created_at DATETIME DEFAULT CURRENT_TIMESTAMP NOT NULL, "
            "region VARCHAR(20) NOT NULL)")
    with pytest.raises(SchemaNotCurrent, match=r"customers\.region exists only in the database"):
        require_current_schema(sqlite_url, shop)


@pytest.mark.postgres
def test_missing_table_is_named(shop, pg_url):
    upgrade(shop, pg_url)
    execute(pg_url, "DROP TABLE payments", "ALTER TABLE order_items DROP COLUMN unit_price")
    with pytest.raises(SchemaNotCurrent) as caught:
        require_current_schema(pg_url, shop)
    assert caught.value.differences == ["column order_items.unit_price is missing", "table payments is missing"]


def test_metadata_argument_and_missing_metadata_key(shop, sqlite_url):
    import sqlalchemy as sa

    upgrade(shop, sqlite_url)
    models = sa.MetaData()
    sa.Table("customers", models, sa.Column("id", sa.Integer, primary_key=True), sa.Column("vip", sa.Boolean))
    with pytest.raises(SchemaNotCurrent, match=r"column customers\.vip is missing"):
        require_current_schema(sqlite_url, shop, metadata=models)
    pyproject = shop / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace('metadata = "shop.models:Base.metadata"\n', ""))
    with pytest.raises(SafemigrateError, match="does not know the models") as caught:
        require_current_schema(sqlite_url, shop)
    assert caught.value.exit_code == 2
    require_current_revision(sqlite_url, shop)


# -- the cache ------------------------------------------------------------------------------
def test_heads_come_from_the_files_without_importing_them(shop, sqlite_url, imports):
    upgrade(shop, sqlite_url)
    require_current_schema(sqlite_url, shop)
    require_current_schema(sqlite_url, shop)
    assert imports == []
    cache = json.loads((shop / ".safemigrate" / "heads.json").read_text())
    assert cache["heads"] == [HEAD]
    assert (shop / ".safemigrate" / ".gitignore").read_text() == "*\n"


def test_cache_spares_alembic_when_a_file_is_not_plain(shop, sqlite_url, imports):
    upgrade(shop, sqlite_url)
    head_file = shop / "migrations" / "versions" / f"{HEAD}_add_customer_loyalty_points.py"
    source = head_file.read_text()
    head_file.write_text(source.replace('down_revision: Union[str, Sequence[str], None] = "359940d6ad08"',
                                        'down_revision: Union[str, Sequence[str], None] = "359940d6" + "ad08"'))
    require_current_revision(sqlite_url, shop)
    assert len(imports) == 11  # a computed down_revision: Alembic's graph, once
    imports.clear()
    _forget_process_memo()
    require_current_revision(sqlite_url, shop)
    assert imports == []  # the next process reads .safemigrate/heads.json


def test_new_revision_file_invalidates_the_cache(shop, sqlite_url):
    upgrade(shop, sqlite_url)
    require_current_revision(sqlite_url, shop)
    (shop / "migrations" / "versions" / "0a1b2c3d4e5f_add_nickname.py").write_text(NEW_REVISION.format(down=HEAD))
    with pytest.raises(SchemaNotCurrent) as caught:
        require_current_revision(sqlite_url, shop)
    assert caught.value.reason == "behind" and caught.value.pending == ["0a1b2c3d4e5f"]
    assert "1 pending revision(s) (0a1b2c3d4e5f)" in caught.value.what
    assert json.loads((shop / ".safemigrate" / "heads.json").read_text())["heads"] == ["0a1b2c3d4e5f"]


def test_cache_goes_to_the_user_cache_folder_when_the_project_is_read_only(shop, sqlite_url, tmp_path,
                                                                              monkeypatch, imports):
    upgrade(shop, sqlite_url)
    (shop / ".safemigrate").write_text("not a folder")  # the project's cache folder cannot be created
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    require_current_revision(sqlite_url, shop)
    [stored] = (tmp_path / "cache" / "safemigrate").glob("heads-*.json")
    assert json.loads(stored.read_text())["heads"] == [HEAD]
    _forget_process_memo()
    require_current_revision(sqlite_url, shop)
    assert imports == []


def test_static_heads_agree_with_alembic_on_merges(shop):
    from safemigrate.config.settings import load_settings
    from safemigrate.project.scripts import AlembicProject

    versions = shop / "migrations" / "versions"
    for rev in ("aaaa00000001", "bbbb00000002"):
        (versions / f"{rev}_branch.py").write_text(NEW_REVISION.replace("0a1b2c3d4e5f", rev).format(down=HEAD))
    merge = NEW_REVISION.replace("0a1b2c3d4e5f", "cccc00000003").replace(
        'down_revision = "{down}"', 'down_revision = (\n    "aaaa00000001",  # one branch\n    "bbbb00000002",\n)')
    (versions / "cccc00000003_merge.py").write_text(merge)
    files = sorted(versions.glob("*.py"))
    assert headcache._static_heads(files) == ["cccc00000003"]
    assert sorted(AlembicProject(load_settings(shop)).heads) == ["cccc00000003"]


# -- passwords and unreachable databases ------------------------------------------------------
@pytest.mark.postgres
def test_password_never_appears(shop, pg_url):
    secret = "Sup3rSecretPw"
    url = make_url(pg_url).set(password=secret).render_as_string(hide_password=False)  # trust auth ignores it
    upgrade(shop, pg_url, "4f241768b312")
    with pytest.raises(SchemaNotCurrent) as caught:
        require_current_schema(url, shop)
    assert "postgres:***@127.0.0.1" in caught.value.what
    assert secret not in str(caught.value) and secret not in json.dumps(caught.value.as_dict())
    unreachable = make_url(url).set(port=1).render_as_string(hide_password=False)
    with pytest.raises(DatabaseUnreachable) as caught_down:
        require_current_revision(unreachable, shop)
    assert caught_down.value.exit_code == 3
    assert secret not in str(caught_down.value) and "***" in caught_down.value.what


@pytest.mark.postgres
def test_connection_inside_a_transaction_is_not_broken(shop, pg_url):
    engine = create_engine(pg_url, poolclass=pool.NullPool)
    try:
        with engine.connect() as conn, conn.begin():
            conn.execute(text("CREATE TABLE t (id integer)"))
            with pytest.raises(SchemaNotCurrent, match="never been migrated"):
                require_current_revision(conn, shop)
            assert conn.execute(text("SELECT count(*) FROM t")).scalar() == 0  # transaction still usable
    finally:
        engine.dispose()


def test_accepts_an_async_engine(shop, sqlite_url):
    from sqlalchemy.ext.asyncio import create_async_engine

    upgrade(shop, sqlite_url)
    engine = create_async_engine(sqlite_url.replace("sqlite://", "sqlite+aiosqlite://"))
    require_current_schema(engine, shop)  # checked through the sync driver; the app's event loop is not needed
