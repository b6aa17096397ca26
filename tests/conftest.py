"""Fixtures: real PostgreSQL / MariaDB databases and SQLite files, one fresh per test.

Servers come from SAFEMIGRATE_TEST_POSTGRES_URL and SAFEMIGRATE_TEST_MYSQL_URL
(defaulting to the local servers). When a server cannot be reached the test
is skipped locally, and fails when CI=true: CI must never pass by skipping.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import create_engine, pool, text
from sqlalchemy.engine import make_url

REPO = Path(__file__).resolve().parents[1]
PROJECTS = Path(__file__).resolve().parent / "projects"
EXAMPLE = REPO / "examples" / "shop"

# Tests mirror the packages (tests/<package>/test_*.py). A test module may use another's helpers by its name
# (``from test_ci import git``), whichever folder it is in and whichever files a run selects.
for _folder in sorted(p for p in Path(__file__).resolve().parent.iterdir() if p.is_dir() and any(p.glob("test_*.py"))):
    if str(_folder) not in sys.path:
        sys.path.append(str(_folder))

POSTGRES_URL = os.environ.get("SAFEMIGRATE_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
MYSQL_URL = os.environ.get("SAFEMIGRATE_TEST_MYSQL_URL", "mysql+pymysql://root@127.0.0.1:3306/mysql")
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def _unavailable(what: str, exc: BaseException) -> None:
    message = f"{what} is not reachable: {exc}"
    if IN_CI:
        pytest.fail(f"{message} (CI=true: an unreachable database is a failure, not a skip)")
    pytest.skip(message)  # only outside CI: with CI=true the line above failed the test


def _server_database(server: str, backend: str) -> Iterator[str]:
    url = make_url(server)
    name = f"smtest_{secrets.token_hex(6)}"
    engine = create_engine(url, poolclass=pool.NullPool, isolation_level="AUTOCOMMIT")
    quote = '"' if backend == "postgresql" else "`"
    try:
        with engine.connect() as conn:
            conn.execute(text(f"CREATE DATABASE {quote}{name}{quote}"))
    except Exception as exc:
        engine.dispose()
        _unavailable(f"{backend} at {url.render_as_string(hide_password=True)}", exc)
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with engine.connect() as conn:
            if backend == "postgresql":
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            else:
                conn.execute(text(f"DROP DATABASE IF EXISTS `{name}`"))
        engine.dispose()


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database (dropped afterwards)."""
    yield from _server_database(POSTGRES_URL, "postgresql")


@pytest.fixture
def mysql_url() -> Iterator[str]:
    """A fresh, empty MariaDB/MySQL database (dropped afterwards)."""
    yield from _server_database(MYSQL_URL, "mysql")


@pytest.fixture
def pg_server() -> str:
    """The PostgreSQL server URL, for throwaway databases safemigrate creates itself."""
    _check_server(POSTGRES_URL, "postgresql")
    return POSTGRES_URL


@pytest.fixture
def mysql_server() -> str:
    _check_server(MYSQL_URL, "mysql")
    return MYSQL_URL


def _check_server(server: str, backend: str) -> None:
    engine = create_engine(server, poolclass=pool.NullPool)
    try:
        with engine.connect():
            pass
    except Exception as exc:
        _unavailable(backend, exc)
    finally:
        engine.dispose()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'live.db'}"


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Each test starts without the user's variables and leaves no imported project modules behind."""
    for var in ("DATABASE_URL", "SAFEMIGRATE_DATABASE_URL", "SAFEMIGRATE_SCRATCH_URL", "APP_ENV",
                "APP_DATABASE_URL"):
        monkeypatch.delenv(var, raising=False)
    modules = set(sys.modules)
    path = list(sys.path)
    cwd = os.getcwd()
    yield
    for name in set(sys.modules) - modules:
        module = sys.modules.get(name)
        origin = getattr(module, "__file__", None) or ""
        if origin and not origin.startswith(sys.prefix) and not origin.startswith(str(REPO / "src")):
            del sys.modules[name]
    sys.path[:] = path
    os.chdir(cwd)


def copy_project(source: Path, dest: Path) -> Path:
    target = dest / source.name
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__", "*.db"))
    return target


@pytest.fixture
def project_factory(tmp_path: Path):
    """Copy a scenario project (or the example) into tmp_path and return its folder."""
    def make(name: str) -> Path:
        source = EXAMPLE if name == "shop" else PROJECTS / name
        return copy_project(source, tmp_path)
    return make


@pytest.fixture
def shop(project_factory) -> Path:
    return project_factory("shop")


@pytest.fixture
def cli():
    """Invoke the CLI in-process; returns click's Result (exit_code, stdout, stderr)."""
    from safemigrate.cli.main import main

    def invoke(*args: str, env: dict[str, str] | None = None):
        runner = CliRunner()
        return runner.invoke(main, list(args), env=env, catch_exceptions=False)
    return invoke


def run_safemigrate(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run the installed console script in a subprocess, as a user would."""
    full_env = {k: v for k, v in os.environ.items()
                if k not in {"DATABASE_URL", "SAFEMIGRATE_DATABASE_URL", "APP_ENV"}}
    full_env["COLUMNS"] = "1000"  # keep messages on one line so tests can search them
    full_env.update(env or {})
    exe = Path(sys.executable).with_name("safemigrate")
    return subprocess.run([str(exe), *args], cwd=cwd, env=full_env, capture_output=True, text=True, timeout=300)


class S3Server:
    """A real S3 API (moto in server mode) on loopback, with a fresh bucket; can be stopped and started again."""

    def __init__(self) -> None:
        import logging

        from moto.server import ThreadedMotoServer

        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        self._factory = ThreadedMotoServer
        self.port = 0
        self.server = None
        self.start()
        self.bucket = f"smtest-{secrets.token_hex(4)}"
        self.client().create_bucket(Bucket=self.bucket)

    def start(self) -> None:
        self.server = self._factory(ip_address="127.0.0.1", port=self.port, verbose=False)
        self.server.start()
        self.port = self.server.get_host_and_port()[1]

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"s3://{self.bucket}"

    def client(self):
        import boto3

        return boto3.client("s3", endpoint_url=self.endpoint, region_name="us-east-1",
                            aws_access_key_id="testing", aws_secret_access_key="testing")

    def keys(self) -> list[str]:
        listed = self.client().list_objects_v2(Bucket=self.bucket)
        return [item["Key"] for item in listed.get("Contents", [])]


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch) -> Iterator[S3Server]:
    """An S3 server on 127.0.0.1 (moto) with an empty bucket; the storage finds it through AWS_ENDPOINT_URL."""
    server = S3Server()
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_DEFAULT_REGION": "us-east-1", "AWS_ENDPOINT_URL": server.endpoint}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    try:
        yield server
    finally:
        server.stop()


def seed_shop(url: str, customers: int = 40) -> None:
    """Rows in the shop's tables (customers, products, orders, order items), on any dialect."""
    engine = create_engine(url, poolclass=pool.NullPool)
    try:
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO customers (email, full_name) VALUES (:e, :n)"),
                         [{"e": f"c{i}@example.com", "n": f"Customer {i}"} for i in range(1, customers + 1)])
            conn.execute(text("INSERT INTO products (sku, name, price) VALUES (:s, :n, :p)"),
                         [{"s": f"SKU-{i}", "n": f"Product {i}", "p": i + 0.5} for i in range(1, 16)])
            customer_ids = conn.execute(text("SELECT id FROM customers ORDER BY id")).scalars().all()
            product_ids = conn.execute(text("SELECT id FROM products ORDER BY id")).scalars().all()
            conn.execute(text("INSERT INTO orders (customer_id, status, total) VALUES (:c, 'paid', :t)"),
                         [{"c": c, "t": 10} for c in customer_ids[:30]])
            order_ids = conn.execute(text("SELECT id FROM orders ORDER BY id")).scalars().all()
            conn.execute(text("INSERT INTO order_items (order_id, product_id, quantity, unit_price) "
                              "VALUES (:o, :p, 2, 5)"),
                         [{"o": o, "p": product_ids[i % len(product_ids)]} for i, o in enumerate(order_ids)])
    finally:
        engine.dispose()


def configure_backup(project: Path, **settings: object) -> None:
    """Write [tool.safemigrate.backup] into the project's pyproject.toml."""
    import tomlkit

    path = project / "pyproject.toml"
    document = tomlkit.parse(path.read_text())
    table = tomlkit.table()
    for key, value in settings.items():
        table[key] = value
    document["tool"]["safemigrate"]["backup"] = table  # type: ignore[index]
    path.write_text(tomlkit.dumps(document))


@pytest.fixture
def backup_shop(shop: Path):
    """The shop example migrated to head on ``url``, seeded with rows, with ``[tool.safemigrate.backup]`` set."""
    from helpers import upgrade

    def make(database_url: str, /, *, seed: bool = True, **backup: object) -> Path:
        upgrade(shop, database_url)
        if seed:
            seed_shop(database_url)
        configure_backup(shop, **backup)
        return shop
    return make


_SERVER_FIXTURES = {"pg_url": "postgres", "pg_server": "postgres", "mysql_url": "mysql", "mysql_server": "mysql"}
#: Parameter values by which a fixture picks a server with request.getfixturevalue (invisible to fixturenames).
_SERVER_PARAMS = {"postgresql": "postgres", "mysql": "mysql"}


#: The files that take over a minute of a worker (`make test` prints the slowest tests), run first: `--dist
#: loadfile` hands files out in collection order, and one of these handed out last is the run's tail, with the
#: other worker idle (on a loaded machine the tail was a third of the run).
RUN_FIRST = (
    "tests/runner/test_journal.py",
    "tests/attacks/test_pg_more.py",
    "tests/changes/test_two_versions.py",
    "tests/attacks/test_mariadb_evasions.py",
    "tests/runner/test_kills.py",
    "tests/schema/test_safe_by_default_kills.py",
    "tests/changes/test_backfill_load.py",
)


def _file_rank(item: pytest.Item) -> int:
    path = item.nodeid.split("::", 1)[0]
    return RUN_FIRST.index(path) if path in RUN_FIRST else len(RUN_FIRST)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A test that uses a server carries that server's marker, so `-m "not postgres"` leaves it out; the
    slowest files come first (a stable sort: the order within a file and among the others is kept)."""
    items.sort(key=_file_rank)
    for item in items:
        for fixture, marker in _SERVER_FIXTURES.items():
            if fixture in getattr(item, "fixturenames", ()):
                item.add_marker(getattr(pytest.mark, marker))
        callspec = getattr(item, "callspec", None)
        for value in (callspec.params.values() if callspec is not None else ()):
            if isinstance(value, str) and value in _SERVER_PARAMS:
                item.add_marker(getattr(pytest.mark, _SERVER_PARAMS[value]))
