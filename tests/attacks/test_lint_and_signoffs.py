"""Lint keeps its findings when the build fails after them; a sign-off covers exactly the object it names."""

from __future__ import annotations

import pytest
from helpers import make_project, scalar, upgrade

from safemigrate import Project
from safemigrate.core.errors import SafemigrateError
from safemigrate.core.results import SignOff


@pytest.mark.postgres
def test_lint_reports_a_revision_that_breaks_its_own_build(tmp_path, pg_server):
    project = make_project(tmp_path / "p", 'op.execute("DROP SCHEMA public CASCADE")')
    report = Project.from_pyproject(project, scratch_url=pg_server, dialect="postgresql").lint()
    assert not report.ok
    assert any(f.rule in {"drop-schema-or-database", "drop-cascade"} and f.revision == "0002"
               for f in report.blocking)
    assert any("throwaway build failed at revision 0002" in note for note in report.notes)


def test_sign_off_names_one_object():
    archive = SignOff("drop-table", "archive.users", "moved")
    assert not archive.covers("drop-table", "users")  # public.users is another table
    assert archive.covers("drop-table", "ARCHIVE.users")
    plain = SignOff("drop-table", "users", "retired")
    assert plain.covers("drop-table", "public.users") and plain.covers("drop-table", '"users"')
    assert not plain.covers("drop-table", "archive.users")
    assert not plain.covers("truncate", "users")
    assert SignOff("drop-column", "users.name", "x").covers("drop-column", "public.users.name")


@pytest.mark.postgres
def test_a_sign_off_for_another_schema_does_not_allow_dropping_public(tmp_path, pg_url, pg_server):
    body = '''op.execute("CREATE SCHEMA archive")
op.execute("CREATE TABLE archive.users (id int)")
with allow("drop-table", "archive.users", reason="archived elsewhere"):
    op.get_bind().connection.cursor().execute("DROP TABLE public.users")'''
    project = make_project(tmp_path / "p", 'if "safemigrate_tmp_" not in str(op.get_bind().engine.url):\n'
                           + "\n".join("    " + line for line in body.splitlines()))
    with (project / "pyproject.toml").open("a") as pyproject:
        pyproject.write(f'\n[tool.safemigrate.backup]\nurl = "{tmp_path / "backups"}"\n')
    upgrade(project, pg_url, "0001")
    with pytest.raises(SafemigrateError):
        Project.from_pyproject(project, database_url=pg_url, scratch_url=pg_server,
                               environment="production").migrate()
    assert scalar(pg_url, "SELECT count(*) FROM public.users") == 3
    assert scalar(pg_url, "SELECT version_num FROM alembic_version") == "0001"
