"""MySQL/MariaDB: a migration behind an open transaction gives up after lock_timeout and names the blocker."""

from __future__ import annotations

import pytest
from helpers import scalar, upgrade
from sqlalchemy import create_engine, pool, text

from safemigrate import Project
from safemigrate.core.errors import LockBlocked

pytestmark = pytest.mark.mysql


def test_ddl_behind_an_idle_transaction_is_retried_then_names_the_session(shop, mysql_url):
    upgrade(shop, mysql_url, "916a526e23a8")
    pyproject = shop / "pyproject.toml"
    timeout = '[tool.safemigrate]\nlock_timeout = "1s"\n'
    pyproject.write_text(pyproject.read_text().replace("[tool.safemigrate]\n", timeout))
    blocker = create_engine(mysql_url, poolclass=pool.NullPool).connect()
    try:
        blocker.execute(text("SELECT count(*) FROM orders"))  # an open transaction holds the table's metadata lock
        session = blocker.execute(text("SELECT CONNECTION_ID()")).scalar()
        project = Project.from_pyproject(shop, database_url=mysql_url, environment="development")
        with pytest.raises(LockBlocked) as info:
            project.migrate(retries=1, backoff=0.05)
        message = str(info.value)
        assert "36c914febd34" in message and "after 2 attempts" in message
        assert f"session {session}" in message  # the blocking session is named
        assert scalar(mysql_url, "SELECT version_num FROM alembic_version") == "916a526e23a8"
    finally:
        blocker.rollback()
        blocker.close()
    report = Project.from_pyproject(shop, database_url=mysql_url, environment="development").migrate()
    assert report.ok and report.applied[-1].revision == "d5f6b1370600"
