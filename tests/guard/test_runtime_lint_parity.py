"""Lint and the run-time guard refuse the same things, under the same rule ids and names (issue #10).

What the run-time guard refuses in production (a dropped view, a restarted sequence, an owner changed...)
is reported by `safemigrate lint` before the deploy, and one sign-off in the revision file covers both:
lint, the production preflight that runs it, the statement check before the SQL is sent and the catalog
check before the revision commits. Every case checks the database afterwards, not only the message.
"""

from __future__ import annotations

import pytest
from attacks.chain_project import Rev, make_chain
from helpers import execute, scalar, upgrade

from safemigrate import Project
from safemigrate.core.errors import DestructiveChangeBlocked

SIGNED_DROP = '''with allow("drop-view", "user_names", reason="reports read users directly since 3.2"):
    op.execute("DROP VIEW user_names")
'''
UNSIGNED_DROP = 'op.execute("DROP VIEW user_names")\n'
RAW_DROP = 'op.get_bind().connection.cursor().execute("DROP VIEW user_names")\n'
SIGNED_RAW_DROP = ('with allow("drop-view", "user_names", reason="reports read users directly since 3.2"):\n'
                   '    ' + RAW_DROP)


def _project(tmp_path, body: str, *, bomb: bool = False):
    return make_chain(tmp_path / "p", [Rev(body, bomb=bomb)], view=True, backups=tmp_path / "backups")


def _production(project, url, server):
    return Project.from_pyproject(project, database_url=url, scratch_url=server, environment="production")


def _view_exists(url: str) -> bool:
    schema = "current_schema()" if url.startswith("postgresql") else "DATABASE()"
    return scalar(url, "SELECT count(*) FROM information_schema.views WHERE table_name = 'user_names' "
                       f"AND table_schema = {schema}") == 1


def _version(url: str) -> str:
    return scalar(url, "SELECT version_num FROM alembic_version")


def _lint(project, server, dialect: str):
    report = Project.from_pyproject(project, scratch_url=server, dialect=dialect).lint()
    return report, [f for f in report.findings if f.revision == "0002" and f.rule == "drop-view"]


@pytest.mark.postgres
def test_one_sign_off_covers_lint_and_the_run_time_guard(tmp_path, pg_url, pg_server):
    project = _project(tmp_path, SIGNED_DROP)
    report, found = _lint(project, pg_server, "postgresql")
    assert report.mode == "captured"
    assert [(f.target, f.signed_off) for f in found] == [("user_names", "reports read users directly since 3.2")]
    assert report.ok and not [f for f in report.findings if f.rule == "unused-sign-off"]

    upgrade(project, pg_url, "0001")
    assert _view_exists(pg_url)
    migrated = _production(project, pg_url, pg_server).migrate()
    assert [c.name for c in migrated.checks if not c.ok] == []
    assert [a.revision for a in migrated.applied] == ["0002"]
    assert _version(pg_url) == "0002" and not _view_exists(pg_url)
    assert scalar(pg_url, "SELECT count(*) FROM users") == 3


@pytest.mark.postgres
def test_unsigned_drop_view_is_reported_by_lint_and_refused_by_production_migrate(tmp_path, pg_url, pg_server):
    project = _project(tmp_path, UNSIGNED_DROP)
    report, found = _lint(project, pg_server, "postgresql")
    assert not report.ok and [f.rule for f in report.blocking] == ["drop-view"]
    assert found[0].message == ("Dropping view `user_names` breaks every running instance, report and query that "
                                "still reads it.")
    assert found[0].target == "user_names" and found[0].line is not None
    assert 'with allow("drop-view", "user_names"' in (found[0].fix or "")

    upgrade(project, pg_url, "0001")
    migrated = _production(project, pg_url, pg_server).migrate()
    failed = [c for c in migrated.checks if not c.ok]
    assert [c.name for c in failed] == ["pending revisions pass the guard"]
    assert "Dropping view `user_names`" in failed[0].message and "allow('drop-view', 'user_names'" in failed[0].fix
    assert migrated.applied == []
    assert _version(pg_url) == "0001" and _view_exists(pg_url)


@pytest.mark.postgres
@pytest.mark.parametrize("body", [UNSIGNED_DROP, RAW_DROP], ids=["op.execute", "raw cursor"])
def test_the_run_time_guard_refuses_under_the_same_rule_id(tmp_path, pg_url, pg_server, body):
    # a time bomb: nothing happens on the throwaway databases, so only the run-time guard sees the drop
    project = _project(tmp_path, body, bomb=True)
    upgrade(project, pg_url, "0001")
    with pytest.raises(DestructiveChangeBlocked) as refused:
        _production(project, pg_url, pg_server).migrate()
    assert refused.value.rule == "drop-view"
    assert "allow('drop-view', 'user_names'" in refused.value.fix
    assert _version(pg_url) == "0001" and _view_exists(pg_url)
    assert scalar(pg_url, "SELECT count(*) FROM user_names") == 3


@pytest.mark.postgres
@pytest.mark.parametrize("body", [SIGNED_DROP, SIGNED_RAW_DROP], ids=["op.execute", "raw cursor"])
def test_the_lint_sign_off_is_honoured_by_the_run_time_guard(tmp_path, pg_url, pg_server, body):
    # the statement check (op.execute) and the catalog check at commit (both paths) accept the same allow(...)
    project = _project(tmp_path, body, bomb=True)
    upgrade(project, pg_url, "0001")
    migrated = _production(project, pg_url, pg_server).migrate()
    assert [a.revision for a in migrated.applied] == ["0002"]
    assert _version(pg_url) == "0002" and not _view_exists(pg_url)


@pytest.mark.mysql
def test_mariadb_one_sign_off_covers_lint_and_the_run_time_guard(tmp_path, mysql_url, mysql_server):
    unsigned = _project(tmp_path / "unsigned", UNSIGNED_DROP)
    report, found = _lint(unsigned, mysql_server, "mysql")
    assert [f.rule for f in report.blocking] == ["drop-view"] and found[0].target == "user_names"
    upgrade(unsigned, mysql_url, "0001")
    migrated = _production(unsigned, mysql_url, mysql_server).migrate()
    assert [c.name for c in migrated.checks if not c.ok] == ["pending revisions pass the guard"]
    assert _version(mysql_url) == "0001" and _view_exists(mysql_url)

    signed = _project(tmp_path / "signed", SIGNED_DROP)
    report, found = _lint(signed, mysql_server, "mysql")
    assert report.ok and [f.signed_off for f in found] == ["reports read users directly since 3.2"]
    migrated = _production(signed, mysql_url, mysql_server).migrate()
    assert [a.revision for a in migrated.applied] == ["0002"]
    assert _version(mysql_url) == "0002" and not _view_exists(mysql_url)


@pytest.mark.mysql
def test_mariadb_run_time_guard_refuses_an_unsigned_drop_view(tmp_path, mysql_url, mysql_server):
    project = _project(tmp_path, UNSIGNED_DROP, bomb=True)
    upgrade(project, mysql_url, "0001")
    with pytest.raises(DestructiveChangeBlocked) as refused:
        _production(project, mysql_url, mysql_server).migrate()
    assert refused.value.rule == "drop-view"
    assert _version(mysql_url) == "0001" and _view_exists(mysql_url)
    execute(mysql_url, "SELECT 1")  # the database is still usable
