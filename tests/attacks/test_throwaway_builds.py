"""Throwaway builds never reach beyond their own database: check, lint and dry runs on a shared server."""

from __future__ import annotations

import pytest
from helpers import make_project, scalar

from safemigrate import Project
from safemigrate.core.errors import MigrationFailed

pytestmark = pytest.mark.postgres


def test_a_build_never_touches_roles_or_other_sessions(tmp_path, pg_server):
    role = f"smtest_role_{tmp_path.name[-8:].replace('-', '_')}".lower()
    body = f'''op.execute("CREATE ROLE {role} LOGIN")
op.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE pid <> pg_backend_pid()")'''
    project = make_project(tmp_path / "p", body)
    with pytest.raises(MigrationFailed) as info:
        Project.from_pyproject(project, scratch_url=pg_server, dialect="postgresql").check()
    assert "safemigrate did not send it" in info.value.what and "creates a role" in info.value.what
    assert scalar(pg_server, f"SELECT count(*) FROM pg_roles WHERE rolname = '{role}'") == 0
    lint = Project.from_pyproject(project, scratch_url=pg_server, dialect="postgresql").lint()
    assert {f.rule for f in lint.blocking} >= {"affects-the-server"}  # reported as a finding: exit 1, not 3


def test_a_signed_off_server_change_runs_on_the_throwaway_database(tmp_path, pg_server):
    body = '''with allow("affects-the-server", "server", reason="reload after the extension's settings"):
    op.execute("SELECT pg_reload_conf()")'''
    project = make_project(tmp_path / "p", body)
    assert Project.from_pyproject(project, scratch_url=pg_server, dialect="postgresql").check().ok


@pytest.mark.parametrize("driver", ["psycopg", "psycopg2"])
def test_a_raw_cursor_is_kept_to_the_throwaway_database_and_linted(tmp_path, pg_server, driver):
    # below SQLAlchemy, a driver cursor's statements are recorded as the revision's own: kept to the
    # throwaway database like op.execute, and seen by lint
    role = f"smtest_raw_{tmp_path.name[-8:].replace('-', '_')}".lower()
    body = f'''cur = op.get_bind().connection.cursor()
cur.execute("DELETE FROM users")
cur.execute("CREATE ROLE {role} LOGIN")'''
    project = make_project(tmp_path / "p", body)
    server = pg_server.replace("postgresql+psycopg://", f"postgresql+{driver}://")
    with pytest.raises(MigrationFailed) as info:
        Project.from_pyproject(project, scratch_url=server, dialect="postgresql").check()
    assert "safemigrate did not send it" in info.value.what and "creates a role" in info.value.what
    assert scalar(pg_server, f"SELECT count(*) FROM pg_roles WHERE rolname = '{role}'") == 0
    lint = Project.from_pyproject(project, scratch_url=server, dialect="postgresql").lint()
    assert {"delete-without-where", "affects-the-server"} <= {f.rule for f in lint.blocking}
    quiet = make_project(tmp_path / "q", 'op.get_bind().connection.cursor().execute("DELETE FROM users")')
    review = Project.from_pyproject(quiet, scratch_url=server, dialect="postgresql").review("0001:0002")
    assert "DELETE FROM users" in [s.sql for r in review.revisions for s in r.statements]
