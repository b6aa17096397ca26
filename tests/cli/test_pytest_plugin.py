"""``pytest --safemigrate``: the plugin run by pytester on scenario projects, in a pytest process of its own."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from conftest import EXAMPLE, PROJECTS
from helpers import make_project

pytest_plugins = ["pytester"]

USER_TEST = "def test_the_users_own_test():\n    assert True\n"


def _project(pytester: pytest.Pytester, source: Path) -> Path:
    shutil.copytree(source, pytester.path, dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns("__pycache__", "*.db"))
    return pytester.path


def _run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest_subprocess("-p", "no:cacheprovider", "-rfs", *args)


def test_off_by_default_the_users_suite_is_unchanged(pytester: pytest.Pytester) -> None:
    _project(pytester, EXAMPLE)
    pytester.makepyfile(test_app=USER_TEST)
    result = _run(pytester, "-v")
    result.assert_outcomes(passed=1)
    assert "safemigrate::" not in result.stdout.str()


@pytest.mark.slow
def test_the_example_passes_every_check(pytester: pytest.Pytester) -> None:
    _project(pytester, EXAMPLE)
    pytester.makepyfile(test_app=USER_TEST)
    result = _run(pytester, "--safemigrate", "-v")
    revisions = sorted(p.name.split("_", 1)[0] for p in (EXAMPLE / "migrations" / "versions").glob("*.py"))
    # the user's test, single head, upgrade, models, lint, and one round trip per revision
    result.assert_outcomes(passed=1 + 4 + len(revisions))
    out = result.stdout.str()
    for name in ("single_head", "upgrade_base_to_head", "models_match_head", "lint_clean"):
        assert f"safemigrate::{name} PASSED" in out
    for revision in revisions:
        assert f"safemigrate::up_down_up[{revision}] PASSED" in out
    assert "test_app.py::test_the_users_own_test PASSED" in out


def test_drift_fails_with_what_it_means_and_the_fixing_ddl(pytester: pytest.Pytester) -> None:
    _project(pytester, PROJECTS / "drifted")
    result = _run(pytester, "--safemigrate")
    result.assert_outcomes(passed=5, failed=1)
    out = result.stdout.str()
    assert "FAILED safemigrate::models_match_head" in out
    assert "The models differ from what the migrations build (2 difference(s), head e8d4b2a6c013)." in out
    assert "What this usually means: a model was changed without a migration" in out
    assert "DDL that would fix it (sqlite):" in out
    assert "    ALTER TABLE users ADD COLUMN nickname VARCHAR(50);" in out
    assert "    CREATE INDEX ix_posts_author_id_created_at ON posts (author_id, created_at);" in out
    assert "As Alembic operations:" in out
    assert "    op.add_column('users', sa.Column('nickname', sa.String(length=50), nullable=True))" in out
    assert "Traceback" not in out


def test_multiple_heads_fail_single_head_only(pytester: pytest.Pytester) -> None:
    _project(pytester, PROJECTS / "multiple_heads")
    result = _run(pytester, "--safemigrate", "-v")
    result.assert_outcomes(passed=6, failed=1)
    out = result.stdout.str()
    assert "FAILED safemigrate::single_head" in out
    assert "The migration history has 2 heads: 1e5f8a3c6d92, b47a0c9e2f15." in out
    assert "Heads:\n    1e5f8a3c6d92  orders" in out
    assert 'alembic merge -m "merge heads" heads' in out
    # each branch's revision is stepped down on its own branch, the other branch applied beside it
    for revision in ("7c2d9e04a1b3", "1e5f8a3c6d92", "b47a0c9e2f15"):
        assert f"safemigrate::up_down_up[{revision}] PASSED" in out


def test_a_failing_revision_fails_the_upgrade_and_its_round_trip(pytester: pytest.Pytester) -> None:
    _project(pytester, PROJECTS / "failing_migration")
    result = _run(pytester, "--safemigrate")
    out = result.stdout.str()
    assert "FAILED safemigrate::upgrade_base_to_head" in out
    assert "Revision 0002 (migrations/versions/0002_orders.py line 31) failed" in out
    assert "no such table: no_such_table" in out
    assert "What this usually means: a revision cannot run on an empty database" in out
    assert "FAILED safemigrate::up_down_up[0002]" in out
    # what needs the build at head is skipped with the cause, not failed a second time
    assert "the upgrade from base to head failed (see safemigrate::upgrade_base_to_head)" in out
    result.assert_outcomes(passed=2, failed=2, skipped=3)  # 0001 passes; 0003 is never reached


def test_a_blocking_lint_finding_fails_lint_clean_with_the_finding(pytester: pytest.Pytester) -> None:
    make_project(pytester.path, 'op.drop_column("users", "name")')
    result = _run(pytester, "--safemigrate", "--safemigrate-exclude", "models_match_head,up_down_up")
    out = result.stdout.str()
    result.assert_outcomes(passed=2, failed=1)
    assert "FAILED safemigrate::lint_clean" in out
    assert "1 blocking lint finding(s) in 0002." in out
    assert "error drop-column in 0002 migrations/versions/0002_change.py:" in out
    assert "# safemigrate: allow[rule-id] reason" in out
    assert "instead: " in out


def test_a_broken_revision_file_is_one_failing_test(pytester: pytest.Pytester) -> None:
    _project(pytester, PROJECTS / "broken_syntax")
    result = _run(pytester, "--safemigrate")
    result.assert_outcomes(failed=1)
    out = result.stdout.str()
    assert "FAILED safemigrate::project" in out
    assert "0002_broken.py has a syntax error at line 23" in out
    assert "Traceback" not in out


@pytest.mark.slow
def test_marker_and_exclusions(pytester: pytest.Pytester) -> None:
    _project(pytester, EXAMPLE)
    pytester.makepyfile(test_app=USER_TEST)
    result = _run(pytester, "--safemigrate", "-m", "not safemigrate")
    result.assert_outcomes(passed=1)
    result = _run(pytester, "--safemigrate", "-k", "single_head")
    result.assert_outcomes(passed=1)
    result = _run(pytester, "--safemigrate", "--safemigrate-exclude", "no_such_check")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "--safemigrate-exclude: unknown check(s) no_such_check" in result.stderr.str()


@pytest.mark.postgres
def test_on_the_scratch_server(pytester: pytest.Pytester, pg_server: str) -> None:
    _project(pytester, PROJECTS / "drifted")
    result = _run(pytester, "--safemigrate", "--safemigrate-scratch-url", pg_server,
                  "--safemigrate-exclude", "up_down_up")
    result.assert_outcomes(passed=3, failed=1)
    out = result.stdout.str()
    assert "DDL that would fix it (postgresql):" in out
    assert "CONCURRENTLY" in out  # the fix is in the form that does not stall writers



OWN_TESTS = """
def test_what_the_models_lack(safemigrate_project):
    report = safemigrate_project.check()
    assert sorted(d.kind for d in report.differences) == ["add_column", "add_index"]


def test_heads(safemigrate_project):
    assert safemigrate_project.history.heads == ["e8d4b2a6c013"]
"""


def test_the_project_fixture_for_tests_of_ones_own(pytester: pytest.Pytester) -> None:
    _project(pytester, PROJECTS / "drifted")
    pytester.makepyfile(test_own=OWN_TESTS)
    _run(pytester).assert_outcomes(passed=2)  # without --safemigrate: the user's tests only
