"""The one helper a project's ``env.py`` calls.

A whole env.py managed by safemigrate is::

    from safemigrate.env import run_migrations

    run_migrations()

It reads ``[tool.safemigrate]``, imports the models' MetaData, finds the
database URL (``--database-url`` / ``$SAFEMIGRATE_DATABASE_URL`` /
``$DATABASE_URL`` / config), and configures Alembic with the options every
project should have: type and server-default comparison, one transaction per
revision, batch mode on SQLite. Keyword arguments are passed on to
``context.configure`` so a project keeps its own ``include_object`` and the like.
"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import Any

from sqlalchemy import MetaData, pool
from sqlalchemy.engine import Connection, create_engine

from safemigrate.config.settings import duration_ms, load_settings, resolve_database_url
from safemigrate.core.errors import ConfigError
from safemigrate.core.urls import backend_of, parse_url
from safemigrate.project.models import import_metadata

_ASYNC_DRIVERS = {"asyncpg", "aiosqlite", "aiomysql", "asyncmy", "psycopg_async"}


def run_migrations(target_metadata: MetaData | list[MetaData] | None = None,
                   **configure_kwargs: Any) -> None:
    """Run Alembic's migrations for the current ``alembic`` command."""
    from alembic import context

    config = context.config
    start = Path(config.config_file_name).parent if config.config_file_name else None
    settings = load_settings(start, require_table=False)
    if target_metadata is None and settings.metadata:
        target_metadata = import_metadata(settings.metadata, settings.root)
    options: dict[str, Any] = {
        "target_metadata": target_metadata,
        "compare_type": True,
        "compare_server_default": settings.compare_server_default,  # spellings settled by the hook
        "transaction_per_migration": True,
    }
    options.update(configure_kwargs)
    from safemigrate.guard.enforce.autogen import make_hook
    from safemigrate.schema.compare import without_ledger

    options["include_name"] = without_ledger(options.get("include_name"))

    options["process_revision_directives"] = make_hook(options.get("process_revision_directives"))

    timeouts = (settings.lock_timeout, settings.statement_timeout)
    options["safemigrate_safe_by_default"] = settings.safe_by_default  # read back (and removed) by _run_on
    connection = config.attributes.get("connection")
    if connection is not None:
        _run_on(context, connection, options, *timeouts)
        return

    raw_url, _source = resolve_database_url(settings, ini_url=config.get_main_option("sqlalchemy.url"))
    if raw_url is None:
        raise ConfigError(
            f"No database URL: ${settings.database_url_env} is unset.",
            "Alembic needs to know which database to migrate.",
            f"Set {settings.database_url_env} (or SAFEMIGRATE_DATABASE_URL) to a SQLAlchemy URL.",
        )
    url = parse_url(raw_url)
    if context.is_offline_mode():
        options.pop("safemigrate_safe_by_default")  # offline: nothing runs, nothing to rewrite
        options.setdefault("render_as_batch", backend_of(url) == "sqlite")
        context.configure(url=url, literal_binds=True, dialect_opts={"paramstyle": "named"}, **options)
        with context.begin_transaction():
            context.run_migrations()
        return

    if url.get_driver_name() in _ASYNC_DRIVERS:
        asyncio.run(_run_async(context, url, options, timeouts))
        return
    engine = create_engine(url, poolclass=pool.NullPool)
    try:
        with engine.connect() as conn:
            _run_on(context, conn, options, *timeouts)
    finally:
        engine.dispose()


def _run_on(context: Any, connection: Connection, options: dict[str, Any], lock_timeout: str = "5s",
            statement_timeout: str = "0") -> None:
    from safemigrate.guard.enforce.runtime import RECORD_ONLY, RuntimeGuard

    options = dict(options)
    safe_by_default = options.pop("safemigrate_safe_by_default", False)
    if connection.dialect.name == "postgresql":
        # A blocked ALTER TABLE queues every later query on its table behind it:
        # give up after lock_timeout instead of stalling the application.
        for name, value in (("lock_timeout", lock_timeout), ("statement_timeout", statement_timeout)):
            if value not in {"", "0"}:
                connection.exec_driver_sql(f"SET {name} = '{duration_ms(value, name)}ms'")
        connection.commit()  # session settings: they stay, and Alembic starts from no transaction
    options.setdefault("render_as_batch", connection.dialect.name == "sqlite")
    guard = None
    if not context.config.attributes.get(RECORD_ONLY):
        info = connection.dialect.server_version_info or (15,)
        dialect = "mysql" if connection.dialect.name == "mariadb" else connection.dialect.name
        major = info[0] if isinstance(info[0], int) else 15
        guard = RuntimeGuard(dialect, pg_version=major if dialect == "postgresql" else 15)
        guard.install(connection)
    from safemigrate.guard.enforce.ops import observing
    from safemigrate.schema.safe_ops.runtime import rewriting

    try:
        context.configure(connection=connection, **options)
        watching = observing(guard.on_operation) if guard is not None else contextlib.nullcontext()
        # safe_by_default: entered before the observer, so that it wraps the safe forms and leaves first
        safe = rewriting(connection) if safe_by_default else contextlib.nullcontext()
        with context.begin_transaction(), safe, watching:
            context.run_migrations()
        if connection.in_transaction():
            connection.commit()
    finally:
        if guard is not None:
            guard.remove(connection)


async def _run_async(context: Any, url: Any, options: dict[str, Any], timeouts: tuple[str, str]) -> None:
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine(url, poolclass=pool.NullPool)
    try:
        async with engine.connect() as conn:
            await conn.run_sync(lambda sync_conn: _run_on(context, sync_conn, options, *timeouts))
    finally:
        await engine.dispose()
