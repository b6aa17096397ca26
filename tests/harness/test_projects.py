"""Real-world project shapes (tests/projects/*): safemigrate drives each env.py as it is."""

from __future__ import annotations

import pytest

from safemigrate import Project
from safemigrate.core.errors import EnvPyError, MigrationFailed, RevisionGraphError

IN_SYNC = ["plain_env", "own_settings", "async_env", "multi_module", "include_object", "inspecting",
           "dialect_branches", "named_revisions"]


@pytest.mark.parametrize("name", IN_SYNC)
def test_in_sync_projects_on_sqlite(project_factory, name):
    report = Project.from_pyproject(project_factory(name)).check()
    assert report.ok, [d.description for d in report.differences]
    assert report.revisions_applied >= 2


@pytest.mark.postgres
@pytest.mark.parametrize("name", IN_SYNC)
def test_in_sync_projects_on_postgres(project_factory, pg_server, name):
    report = Project.from_pyproject(project_factory(name), scratch_url=pg_server, dialect="postgresql").check()
    assert report.ok, [d.description for d in report.differences]


@pytest.mark.mysql
@pytest.mark.parametrize("name", ["plain_env", "own_settings", "multi_module", "include_object", "inspecting",
                                  "named_revisions"])
def test_in_sync_projects_on_mariadb(project_factory, mysql_server, name):
    report = Project.from_pyproject(project_factory(name), scratch_url=mysql_server, dialect="mysql").check()
    assert report.ok, [d.description for d in report.differences]


def test_async_env_gets_an_async_driver_from_the_project_url(project_factory, tmp_path):
    project = project_factory("async_env")
    live = f"sqlite+aiosqlite:///{tmp_path / 'app.db'}"
    report = Project.from_pyproject(project, database_url=live).check()
    assert report.ok


def test_include_object_filter_of_env_py_is_honoured(project_factory):
    project = project_factory("include_object")
    report = Project.from_pyproject(project).check()
    assert report.ok
    # the filter really matters: the migrations create a table the models lack
    runs_sql = " ".join(s.sql for r in Project.from_pyproject(project).review("base:heads").revisions
                        for s in r.statements)
    assert "legacy_audit" in runs_sql


def test_models_registered_by_env_py_imports(project_factory):
    # metadata = multiapp.db:Base.metadata is empty until env.py imports multiapp.models
    report = Project.from_pyproject(project_factory("multi_module")).check()
    assert report.ok


def test_branches_and_merge_revisions_with_named_ids(project_factory):
    project = Project.from_pyproject(project_factory("named_revisions"))
    report = project.check()
    assert report.ok and report.heads == ["0005_user_tags"]
    review = project.review("base:heads")
    ids = [r.revision.revision for r in review.revisions]
    assert set(ids) == {"0001_initial", "0002_users", "0003_a", "0003_b", "0004_merge", "0005_user_tags"}
    assert ids.index("0004_merge") > max(ids.index("0003_a"), ids.index("0003_b"))
    merge = next(r for r in review.revisions if r.revision.revision == "0004_merge")
    assert merge.revision.is_merge and sorted(merge.revision.down_revision) == ["0003_a", "0003_b"]
    assert "reporting" in next(r for r in review.revisions if r.revision.revision == "0003_a").revision.branch_labels


def test_drift_lists_exactly_the_missing_column_and_index(project_factory):
    report = Project.from_pyproject(project_factory("drifted")).check()
    assert sorted((d.kind, d.table, d.object) for d in report.differences) == [
        ("add_column", "users", "nickname"), ("add_index", "posts", "ix_posts_author_id_created_at")]


def test_multiple_heads_is_a_problem_with_the_merge_command(project_factory):
    report = Project.from_pyproject(project_factory("multiple_heads")).check()
    assert [p.code for p in report.problems] == ["multiple_heads"]
    assert "alembic merge" in report.problems[0].fix
    assert "1e5f8a3c6d92" in report.problems[0].message and "b47a0c9e2f15" in report.problems[0].message
    assert report.differences == []  # the models match the union of both heads


def test_syntax_error_names_file_and_line(project_factory):
    with pytest.raises(MigrationFailed) as info:
        Project.from_pyproject(project_factory("broken_syntax")).check()
    assert info.value.path.endswith("0002_broken.py") and info.value.line == 23
    assert "0002_broken.py has a syntax error at line 23" in info.value.what
    assert info.value.exit_code == 3


def test_empty_versions_folder(project_factory):
    with pytest.raises(RevisionGraphError) as info:
        Project.from_pyproject(project_factory("empty_versions")).check()
    assert "There are no revisions" in info.value.what
    assert "alembic revision --autogenerate" in info.value.fix


def test_hardcoded_url_is_refused_before_touching_that_database(project_factory):
    project = project_factory("hardcoded_url")
    with pytest.raises(EnvPyError) as info:
        Project.from_pyproject(project).check()
    assert "instead of the database safemigrate named" in info.value.what
    assert "before any statement was sent" in info.value.what
    assert "DATABASE_URL" in info.value.fix
    assert not (project / "hardcoded_do_not_touch.db").exists()


def test_failing_migration_names_revision_file_and_line(project_factory):
    with pytest.raises(MigrationFailed) as info:
        Project.from_pyproject(project_factory("failing_migration")).check()
    assert info.value.revision == "0002"
    assert info.value.path.endswith("0002_orders.py") and info.value.line == 31
    assert "no_such_table" in info.value.what


@pytest.mark.postgres
def test_failing_migration_on_postgres(project_factory, pg_server):
    with pytest.raises(MigrationFailed) as info:
        Project.from_pyproject(project_factory("failing_migration"), scratch_url=pg_server).check()
    assert info.value.revision == "0002"
    assert "no_such_table" in info.value.what


def test_alembic_configured_in_pyproject_without_ini(project_factory):
    project = project_factory("plain_env")
    (project / "alembic.ini").unlink()
    pyproject = project / "pyproject.toml"
    pyproject.write_text(pyproject.read_text() + '\n[tool.alembic]\nscript_location = "%(here)s/migrations"\n'
                         'prepend_sys_path = ["."]\n')
    report = Project.from_pyproject(project).check()
    assert report.ok and report.revisions_applied >= 2
