"""The backfill's batches hold their rows briefly (docs/PERFORMANCE.md): a batch over its time is cancelled and
redone smaller, and a row a writer holds is skipped, never waited for, then written once it is free.

Behaviour, not timing: a row whose write sleeps 0.2 s always runs over a 30 ms batch; a row locked by an
open transaction is locked for as long as the test keeps it open.
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from helpers import execute, scalar, upgrade
from test_changes import NAME, accounts_project

from safemigrate.api import Project
from safemigrate.changes import backfill, write_change

pytestmark = pytest.mark.postgres

ROWS = 5_000


@pytest.fixture
def expanded(tmp_path, pg_url):
    """A rename of users.email written and expanded on ROWS rows (nothing backfilled yet)."""
    project = accounts_project(tmp_path / "accounts_app")
    upgrade(project, pg_url, "0001")
    execute(pg_url, f"INSERT INTO users (id, email) SELECT g, 'u' || g || '@example.com' "
                    f"FROM generate_series(1, {ROWS}) g")
    written = write_change(Project.from_pyproject(project, database_url=pg_url), "rename-column", "users", "email",
                           new_column="email_address")
    upgrade(project, pg_url, written.expand_revision)
    return project


def test_a_batch_over_its_time_is_cancelled_and_redone_smaller(expanded, pg_url):
    execute(pg_url,
            "CREATE FUNCTION slow_row() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            "IF NEW.id = 2500 THEN PERFORM pg_sleep(0.2); END IF; RETURN NEW; END $$",
            "CREATE TRIGGER slow_row BEFORE UPDATE ON users FOR EACH ROW EXECUTE FUNCTION slow_row()")
    report = backfill(Project.from_pyproject(expanded, database_url=pg_url), NAME, target_ms=30)
    assert report.verified and report.cancelled > 0, report
    assert scalar(pg_url, "SELECT count(*) FROM users WHERE email_address IS DISTINCT FROM email") == 0


def test_a_row_a_writer_holds_is_skipped_not_waited_for(expanded, pg_url):
    engine = sa.create_engine(pg_url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as writer:
            writer.execute(sa.text("SELECT 1 FROM users WHERE id = 1234 FOR UPDATE"))  # held until rollback
            report = backfill(Project.from_pyproject(expanded, database_url=pg_url), NAME)
            assert not report.verified and report.remaining == 1, report  # finished without waiting for it
            writer.rollback()
    finally:
        engine.dispose()
    assert scalar(pg_url, "SELECT email_address FROM users WHERE id = 1234") is None
    again = backfill(Project.from_pyproject(expanded, database_url=pg_url), NAME)
    assert again.verified and again.rows_written >= 1
    assert scalar(pg_url, "SELECT email_address FROM users WHERE id = 1234") == "u1234@example.com"
