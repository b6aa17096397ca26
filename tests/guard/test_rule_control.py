"""Rule control (issue #15): `safemigrate rules`, `rules explain`, [tool.safemigrate.lint] select / ignore /
severity, the inline `# safemigrate: allow[rule-id] reason` comment, and the guard they never weaken."""

from __future__ import annotations

import json

import pytest
from conftest import run_safemigrate
from helpers import make_project

from safemigrate.guard.registry import load_rules

# body line k of revision 0002 (make_project) is line 15 + k of its file
INDEX = 'op.create_index("ix_users_name", "users", ["name"])'
TWO_INDEXES = INDEX + '\nop.create_index("ix_users_id_name", "users", ["id", "name"])'
JSON_COLUMN = 'op.add_column("users", sa.Column("data", sa.JSON()))'
DROP = 'op.drop_column("users", "name")'


def _project(tmp_path, body: str, lint_table: str = ""):
    project = make_project(tmp_path / "p", body)
    if lint_table:
        pyproject = project / "pyproject.toml"
        pyproject.write_text(pyproject.read_text() + "\n[tool.safemigrate.lint]\n" + lint_table + "\n")
    return project


def _lint(project, *args: str):
    result = run_safemigrate("lint", "--dialect", "postgresql", "--format", "json", *args, cwd=project)
    data = json.loads(result.stdout) if result.stdout.strip() else None
    return result, data


def _rules_of(data) -> list[tuple[str, str, int | None]]:
    return [(f["rule"], f["severity"], f["line"]) for f in data["findings"]
            if f["signed_off"] is None and f["revision"] == "0002"]


# -- safemigrate rules --------------------------------------------------------------------------------------
def test_rules_json_lists_every_registered_rule(cli):
    result = cli("rules", "--format", "json")
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    assert data["kind"] == "rules" and data["schema_version"] == 1
    assert [r["id"] for r in data["rules"]] == sorted(load_rules())
    drop = next(r for r in data["rules"] if r["id"] == "drop-column")
    assert drop == {"id": "drop-column", "severity": "error", "category": "destructive",
                    "dialects": ["postgresql", "mysql", "sqlite"], "summary": load_rules()["drop-column"].summary}


def test_rules_table_names_each_rule(tmp_path):
    result = run_safemigrate("rules", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    for rule_id in load_rules():
        assert rule_id in result.stdout
    assert "Building an index without CONCURRENTLY blocks writes to the table" in result.stdout


def test_rules_explain_shows_the_bad_and_good_migrations(tmp_path):
    result = run_safemigrate("rules", "explain", "add-index-non-concurrently", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "add-index-non-concurrently — error, locking, postgresql" in out
    assert out.index("Bad:") < out.index('op.create_index("ix_orders_status", "orders", ["status"])') \
        < out.index("Good:") < out.index("postgresql_concurrently=True")
    data = json.loads(run_safemigrate("rules", "explain", "drop-column", "--format", "json", cwd=tmp_path).stdout)
    assert data["kind"] == "rule" and data["blocked_at_run_time"] is True
    assert "op.drop_column" in data["bad_example"] and data["good_example"]


def test_rules_explain_an_unknown_id_exits_2_with_the_closest_ids(tmp_path):
    result = run_safemigrate("rules", "explain", "drop-colum", cwd=tmp_path)
    assert result.returncode == 2
    assert "There is no rule 'drop-colum'." in result.stderr
    assert "Did you mean 'drop-column'" in result.stderr and "`safemigrate rules` lists every rule id" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


# -- [tool.safemigrate.lint] ----------------------------------------------------------------------------------
def test_ignore_silences_a_locking_rule(tmp_path):
    result, data = _lint(_project(tmp_path, INDEX))
    assert result.returncode == 1 and ("add-index-non-concurrently", "error", 16) in _rules_of(data)
    result, data = _lint(_project(tmp_path / "ignored", INDEX, 'ignore = ["add-index-non-concurrently"]'))
    assert result.returncode == 0, result.stdout
    assert "add-index-non-concurrently" not in [f["rule"] for f in data["findings"]]


def test_select_reports_only_the_selected_rules(tmp_path):
    body = 'op.execute("DELETE FROM users")\n' + INDEX
    result, data = _lint(_project(tmp_path, body, 'select = ["delete-without-where"]'))
    assert result.returncode == 1
    assert [f[0] for f in _rules_of(data)] == ["delete-without-where"]


@pytest.mark.slow
def test_severity_changes_the_exit_code(tmp_path):
    result, data = _lint(_project(tmp_path, INDEX, 'severity = { "add-index-non-concurrently" = "warning" }'))
    assert result.returncode == 0
    assert ("add-index-non-concurrently", "warning", 16) in _rules_of(data)
    # and up: a warning rule made an error fails lint
    result, data = _lint(_project(tmp_path / "a", JSON_COLUMN))
    assert result.returncode == 0 and ("prefer-jsonb", "warning", 16) in _rules_of(data)
    result, data = _lint(_project(tmp_path / "b", JSON_COLUMN, 'severity = { "prefer-jsonb" = "error" }'))
    assert result.returncode == 1 and ("prefer-jsonb", "error", 16) in _rules_of(data)


def test_an_ignored_destructive_rule_stays_visible_as_a_warning(tmp_path):
    """lint never reads as clean for a change the run-time guard refuses in production."""
    result, data = _lint(_project(tmp_path, DROP, 'ignore = ["drop-column"]'))
    assert result.returncode == 0
    finding = next(f for f in data["findings"] if f["rule"] == "drop-column")
    assert finding["severity"] == "warning"
    assert finding["help"].startswith(
        "Ignored in [tool.safemigrate.lint]; lint reports it as a warning only. The run-time guard still refuses "
        "this change in production unless the revision signs it off: allow('drop-column', 'users.name', "
        "reason='...').")


def test_a_destructive_warning_rule_the_guard_does_not_refuse_can_be_ignored(tmp_path, cli):
    body = 'op.drop_index("ix_users_name", table_name="users")'
    result, data = _lint(_project(tmp_path, body))
    assert result.returncode == 0 and ("drop-index", "warning", 16) in _rules_of(data)
    result, data = _lint(_project(tmp_path / "ignored", body, 'ignore = ["drop-index"]'))
    assert result.returncode == 0 and "drop-index" not in [f["rule"] for f in data["findings"]]
    assert json.loads(cli("rules", "explain", "drop-index", "--format", "json").stdout)["blocked_at_run_time"] is False


@pytest.mark.parametrize(("table", "key"), [
    ('ignore = ["add-index-non-concurent"]', "ignore"),
    ('select = ["add-index-non-concurent"]', "select"),
    ('severity = { "add-index-non-concurent" = "warning" }', "severity"),
])
def test_an_unknown_rule_id_in_the_lint_table_is_a_configuration_error(tmp_path, table, key):
    project = _project(tmp_path, INDEX, table)
    for command in (("lint", "--dialect", "postgresql"), ("status",)):
        result = run_safemigrate(*command, cwd=project)
        assert result.returncode == 2, (command, result.stdout, result.stderr)
        assert f"[tool.safemigrate.lint] {key} names an unknown rule 'add-index-non-concurent'." in result.stderr
        assert "Did you mean 'add-index-non-concurrently'" in result.stderr
        assert "Traceback" not in result.stderr


@pytest.mark.parametrize(("table", "message"), [
    ('severity = { "prefer-jsonb" = "fatal" }', "is not a table of rule ids to \"warning\" or \"error\""),
    ('ignore = "prefer-jsonb"', "ignore = 'prefer-jsonb' is not a list of rule ids"),
    ('skip = ["prefer-jsonb"]', "Unknown key(s) in [tool.safemigrate.lint]: skip."),
])
def test_a_malformed_lint_table_is_a_configuration_error(tmp_path, table, message):
    result = run_safemigrate("lint", "--dialect", "postgresql", cwd=_project(tmp_path, INDEX, table))
    assert result.returncode == 2 and message in result.stderr, result.stderr


# -- # safemigrate: allow[rule-id] reason -----------------------------------------------------------------------
def test_an_inline_comment_silences_exactly_its_line(tmp_path):
    body = (INDEX + "  # safemigrate: allow[add-index-non-concurrently] users has 40 rows, see #88\n"
            'op.create_index("ix_users_id_name", "users", ["id", "name"])')
    result, data = _lint(_project(tmp_path, body))
    assert result.returncode == 1
    assert _rules_of(data) == [("add-index-non-concurrently", "error", 17)]
    signed = [(f["line"], f["signed_off"]) for f in data["findings"] if f["signed_off"]]
    assert signed == [(16, "users has 40 rows, see #88")]


def test_an_inline_comment_on_the_line_above_covers_the_operation_below(tmp_path):
    body = ("# safemigrate: allow[add-index-non-concurrently] users has 40 rows, see #88\n" + TWO_INDEXES)
    result, data = _lint(_project(tmp_path, body))
    assert _rules_of(data) == [("add-index-non-concurrently", "error", 18)]
    assert result.returncode == 1


def test_an_inline_comment_without_a_reason_is_an_error(tmp_path):
    body = INDEX + "  # safemigrate: allow[add-index-non-concurrently]"
    result, data = _lint(_project(tmp_path, body))
    assert result.returncode == 1
    assert ("invalid-inline-allow", "error", 16) in _rules_of(data)
    assert ("add-index-non-concurrently", "error", 16) in _rules_of(data)  # and it allowed nothing
    bad = next(f for f in data["findings"] if f["rule"] == "invalid-inline-allow")
    assert bad["message"] == ("The comment `# safemigrate: allow[add-index-non-concurrently]` gives no reason, so it "
                              "allows nothing.")


def test_an_inline_comment_naming_an_unknown_rule_or_covering_nothing_is_reported(tmp_path):
    body = ("# safemigrate: allow[add-index-non-concurent] tiny table\n" + INDEX
            + '\nop.execute("SELECT 1")  # safemigrate: allow[prefer-jsonb] nothing here')
    result, data = _lint(_project(tmp_path, body))
    found = _rules_of(data)
    assert ("invalid-inline-allow", "error", 16) in found
    assert ("unused-sign-off", "warning", 18) in found


def test_an_inline_comment_does_not_sign_off_a_destructive_change(tmp_path):
    result, data = _lint(_project(tmp_path, DROP + "  # safemigrate: allow[drop-column] unused since 2.3"))
    assert result.returncode == 1
    finding = next(f for f in data["findings"] if f["rule"] == "drop-column")
    assert finding["severity"] == "error" and finding["signed_off"] is None
    assert finding["help"].startswith(
        "The comment `# safemigrate: allow[drop-column]` does not sign off a destructive change: the run-time guard "
        "refuses it in production unless the revision names the object, allow('drop-column', 'users.name', "
        "reason='unused since 2.3').")


# -- the guard is not weakened: ignore silences lint, a sign-off allows a destructive change ----------------------
UNSIGNED_DROP_VIEW = 'op.execute("DROP VIEW user_names")\n'


def _chain(tmp_path, body: str, *, bomb: bool):
    from attacks.chain_project import Rev, make_chain

    project = make_chain(tmp_path / "p", [Rev(body, bomb=bomb)], view=True, backups=tmp_path / "backups")
    pyproject = project / "pyproject.toml"
    pyproject.write_text(pyproject.read_text() + '\n[tool.safemigrate.lint]\nignore = ["drop-view"]\n')
    return project


def _view_exists(url: str) -> bool:
    from helpers import scalar

    return scalar(url, "SELECT count(*) FROM information_schema.views WHERE table_name = 'user_names' "
                       "AND table_schema = current_schema()") == 1


@pytest.mark.postgres
def test_an_ignored_destructive_rule_is_still_refused_by_production_migrate(tmp_path, pg_url, pg_server):
    from helpers import scalar, upgrade

    from safemigrate import Project

    project = _chain(tmp_path, UNSIGNED_DROP_VIEW, bomb=False)
    report = Project.from_pyproject(project, scratch_url=pg_server, dialect="postgresql").lint()
    assert report.ok  # ignored: lint passes, and still says so
    assert [(f.rule, f.severity.value) for f in report.findings if f.revision == "0002"] == [("drop-view", "warning")]
    upgrade(project, pg_url, "0001")
    migrated = Project.from_pyproject(project, database_url=pg_url, scratch_url=pg_server,
                                      environment="production").migrate()
    failed = [c for c in migrated.checks if not c.ok]
    assert [c.name for c in failed] == ["pending revisions pass the guard"]
    assert "allow('drop-view', 'user_names'" in failed[0].fix
    assert migrated.applied == []
    assert scalar(pg_url, "SELECT version_num FROM alembic_version") == "0001" and _view_exists(pg_url)


@pytest.mark.postgres
def test_an_ignored_destructive_rule_is_still_refused_by_the_run_time_guard(tmp_path, pg_url, pg_server):
    # a time bomb: nothing happens on the throwaway databases, so only the run-time guard sees the drop
    from helpers import scalar, upgrade

    from safemigrate import Project
    from safemigrate.core.errors import DestructiveChangeBlocked

    project = _chain(tmp_path, UNSIGNED_DROP_VIEW, bomb=True)
    upgrade(project, pg_url, "0001")
    with pytest.raises(DestructiveChangeBlocked) as refused:
        Project.from_pyproject(project, database_url=pg_url, scratch_url=pg_server,
                               environment="production").migrate()
    assert refused.value.rule == "drop-view"
    assert scalar(pg_url, "SELECT version_num FROM alembic_version") == "0001" and _view_exists(pg_url)
    assert scalar(pg_url, "SELECT count(*) FROM user_names") == 3


# -- pre-commit ----------------------------------------------------------------------------------------------
def _hooks() -> dict[str, dict]:
    import yaml
    from conftest import REPO

    hooks = yaml.safe_load((REPO / ".pre-commit-hooks.yaml").read_text())
    assert isinstance(hooks, list)
    for hook in hooks:  # the keys pre-commit requires, with the types it expects
        assert {"id", "name", "entry", "language"} <= set(hook)
        assert hook["language"] == "python" and isinstance(hook.get("pass_filenames", True), bool)
    return {hook["id"]: hook for hook in hooks}


def _run_hook(hook: dict, project, filenames: list[str]):
    """Run a hook's entry as pre-commit does: the entry's words, its args, then the file names (if it takes them)."""
    import shlex
    import subprocess
    import sys
    from pathlib import Path

    words = shlex.split(hook["entry"])
    assert words[0] == "safemigrate"
    exe = str(Path(sys.executable).with_name("safemigrate"))
    names = filenames if hook.get("pass_filenames", True) else []
    return subprocess.run([exe, *words[1:], *hook.get("args", []), *names], cwd=project, capture_output=True,
                          text=True, timeout=300)


def _staged(hook: dict, project) -> list[str]:
    """The project's files that the hook's ``files``/``exclude`` patterns select, as pre-commit matches them."""
    import re

    every = sorted(str(p.relative_to(project)) for p in project.rglob("*.py"))
    chosen = [f for f in every if re.search(hook.get("files", ""), f)]
    return [f for f in chosen if not (hook.get("exclude") and re.search(hook["exclude"], f))]


@pytest.mark.slow
def test_pre_commit_hooks_are_valid_and_pass_on_the_example(shop):
    hooks = _hooks()
    assert set(hooks) == {"safemigrate-lint", "safemigrate-check"}
    lint_hook, check_hook = hooks["safemigrate-lint"], hooks["safemigrate-check"]
    files = _staged(lint_hook, shop)
    assert files and all(f.startswith("migrations/versions/") for f in files)
    result = _run_hook(lint_hook, shop, files + ["shop/models.py"])  # a stray file is skipped, not an error
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"safemigrate lint — {len(files)} revision(s)" in result.stdout
    assert "Not a revision of this project, not linted: shop/models.py." in result.stdout
    result = _run_hook(check_hook, shop, ["shop/models.py"])
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_lint_hook_lints_only_the_files_given_and_fails_on_a_finding(tmp_path):
    project = _project(tmp_path, INDEX)
    pyproject = project / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace("[tool.safemigrate]\n",
                                                       '[tool.safemigrate]\ndialect = "postgresql"\n'))
    hook = _hooks()["safemigrate-lint"]
    assert _staged(hook, project) == ["migrations/versions/0001_users.py", "migrations/versions/0002_change.py"]
    result = _run_hook(hook, project, ["migrations/versions/0002_change.py"])
    assert result.returncode == 1 and "add-index-non-concurrently" in result.stdout
    assert "1 revision(s)" in result.stdout and "prefer-bigint-primary-key" not in result.stdout  # 0001 not linted
    result = _run_hook(hook, project, ["migrations/versions/0001_users.py"])
    assert result.returncode == 0 and "add-index-non-concurrently" not in result.stdout


def test_lint_without_files_takes_one_range(tmp_path):
    result = run_safemigrate("lint", "0001:0002", "extra", cwd=_project(tmp_path, INDEX))
    assert result.returncode == 2 and "lint takes one revision range, not 2 arguments" in result.stderr


# -- ci check applies the same table ----------------------------------------------------------------------------
@pytest.mark.slow
def test_ci_check_applies_the_lint_table(shop, tmp_path):
    from test_ci import HEAD, ci, commit_all, configure, git, write_revision

    (shop / ".gitignore").write_text("*.db\n__pycache__/\n")
    git(shop, "init", "--quiet", "-b", "main")
    configure(shop)
    commit_all(shop, "shop")
    git(shop, "checkout", "--quiet", "-b", "cleanup")
    write_revision(shop, "c0ffee000001", HEAD, 'op.execute("DELETE FROM payments")', message="clear payments")
    commit_all(shop, "clear payments")
    result = ci(shop, "check", "--base", "main", "--format", "json")
    assert result.returncode == 1, result.stdout + result.stderr
    assert [(f["rule"], f["severity"]) for f in json.loads(result.stdout)["lint"]["findings"]] == [
        ("delete-without-where", "error")]

    pyproject = shop / "pyproject.toml"
    pyproject.write_text(pyproject.read_text() + '\n[tool.safemigrate.lint]\nignore = ["delete-without-where"]\n')
    commit_all(shop, "lint table")
    result = ci(shop, "check", "--base", "main", "--format", "json")
    assert result.returncode == 0, result.stdout + result.stderr
    finding = json.loads(result.stdout)["lint"]["findings"][0]
    assert (finding["rule"], finding["severity"]) == ("delete-without-where", "warning")
    assert "The run-time guard still refuses this change in production" in finding["help"]
