"""safemigrate lint: formats (SARIF 2.1.0, GitHub annotations, JSON, Markdown), start_after, exit codes."""

from __future__ import annotations

import json

from conftest import run_safemigrate
from helpers import make_project

RISKY = 'op.execute("DELETE FROM users")\nop.create_index("ix_users_name", "users", ["name"])'


def _project(tmp_path, body=RISKY, settings=""):
    project = make_project(tmp_path / "p", body)
    if settings:
        pyproject = project / "pyproject.toml"
        pyproject.write_text(pyproject.read_text() + settings)
    return project


def test_sarif_is_valid_2_1_0_with_locations(tmp_path):
    project = _project(tmp_path)
    result = run_safemigrate("lint", "--dialect", "postgresql", "--format", "sarif", cwd=project)
    assert result.returncode == 1, result.stderr
    sarif = json.loads(result.stdout)
    assert sarif["version"] == "2.1.0" and sarif["$schema"].endswith("sarif-2.1.0.json")
    run = sarif["runs"][0]
    rules = [r["id"] for r in run["tool"]["driver"]["rules"]]
    assert "delete-without-where" in rules and "add-index-non-concurrently" in rules
    for rule in run["tool"]["driver"]["rules"]:
        assert rule["shortDescription"]["text"] and rule["defaultConfiguration"]["level"] in {"error", "warning"}
    delete = next(r for r in run["results"] if r["ruleId"] == "delete-without-where")
    assert delete["level"] == "error"
    assert rules[delete["ruleIndex"]] == "delete-without-where"
    location = delete["locations"][0]["physicalLocation"]
    assert location["artifactLocation"]["uri"] == "migrations/versions/0002_change.py"
    assert location["region"]["startLine"] == 16  # the op.execute("DELETE ...") line
    assert "`users`" in delete["message"]["text"]


def test_github_annotations(tmp_path):
    project = _project(tmp_path)
    result = run_safemigrate("lint", "--dialect", "postgresql", "--format", "github", cwd=project)
    lines = result.stdout.strip().splitlines()
    assert any(line.startswith("::error file=migrations/versions/0002_change.py,line=16,"
                               "title=delete-without-where::") for line in lines), lines
    assert any("title=add-index-non-concurrently" in line for line in lines)


def test_json_and_markdown(tmp_path):
    project = _project(tmp_path)
    data = json.loads(run_safemigrate("lint", "--dialect", "postgresql", "--format", "json", cwd=project).stdout)
    assert data["kind"] == "lint" and data["pg_version"] == 15 and data["mode"] == "offline"
    finding = next(f for f in data["findings"] if f["rule"] == "add-index-non-concurrently")
    assert finding["severity"] == "error" and finding["category"] == "locking"
    assert "postgresql_concurrently=True" in finding["fix"]
    markdown = run_safemigrate("lint", "--dialect", "postgresql", "--format", "markdown", cwd=project).stdout
    assert "| :x: | `delete-without-where` | `0002` |" in markdown


def test_start_after_skips_old_history(tmp_path):
    project = _project(tmp_path, settings='start_after = "0002"\n')
    result = run_safemigrate("lint", "--dialect", "postgresql", "--format", "json", cwd=project)
    data = json.loads(result.stdout)
    assert result.returncode == 0 and data["findings"] == [] and data["revisions"] == []
    assert "start_after" in data["notes"][0]


def test_pg_version_changes_what_is_risky(tmp_path):
    body = 'op.add_column("users", sa.Column("score", sa.Integer, server_default="0"))'
    project = _project(tmp_path, body)
    old = json.loads(run_safemigrate("lint", "--dialect", "postgresql", "--pg-version", "10", "--format", "json",
                                     cwd=project).stdout)
    new = json.loads(run_safemigrate("lint", "--dialect", "postgresql", "--pg-version", "15", "--format", "json",
                                     cwd=project).stdout)
    assert "add-column-volatile-default" in {f["rule"] for f in old["findings"]}
    assert "add-column-volatile-default" not in {f["rule"] for f in new["findings"]}


def test_clean_revision_exits_0(tmp_path):
    project = _project(tmp_path, 'op.add_column("users", sa.Column("nickname", sa.String(40)))')
    result = run_safemigrate("lint", "--dialect", "postgresql", cwd=project)
    assert result.returncode == 0, result.stdout
    assert "no blocking findings" in result.stdout


def test_pull_request_content_cannot_change_the_summary_or_the_annotations():
    from safemigrate.guard.model import Category, Finding, Severity
    from safemigrate.render.escape import code, command_property, fence, prose

    hostile_sql = "DELETE FROM t; -- ```\n## fake heading\n<img src=x onerror=alert(1)>"
    block = fence(hostile_sql.splitlines(), "sql")
    assert block[0] == "````sql" and block[-1] == "````"  # longer than any backtick run inside
    assert "<img" not in prose("<img src=x onerror=alert(1)>") and "\n" not in prose("a\n## b")
    assert code("a`b") == "``a`b``"
    assert command_property("x.py,line=1::error") == "x.py%2Cline=1%3A%3Aerror"
    from safemigrate.guard.lint import LintReport
    from safemigrate.render import markdown, sarif

    finding = Finding("drop-table", Severity.ERROR, Category.DESTRUCTIVE, "drops `x` | <b>bold</b>", "help",
                      "x", "DROP TABLE x", "op.execute('```')", revision="r1", path="a,b:c.py", line=3)
    report = LintReport(mode="captured", dialect="postgresql", pg_version=15, revisions=["r1"], findings=[finding])
    text = markdown.lint(report)
    assert "<b>" not in text and "\\|" in text and "````python" in text
    annotation = sarif.github(report)
    assert annotation.startswith("::error file=a%2Cb%3Ac.py,line=3,title=drop-table::")
