"""safemigrate ci check / ci autofix on real git repositories: a bare remote and clones of it.

The shop example is the project, committed at the root of the repository.
Every command runs the installed console script in a subprocess, as a CI job would.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from conftest import run_safemigrate
from helpers import add_model_line

HEAD = "d5f6b1370600"  # the shop example's head revision
NICKNAME = "nickname: Mapped[str | None] = mapped_column(sa.String(40))"
NICKNAME_DDL = "ALTER TABLE customers ADD COLUMN nickname VARCHAR(40)"


def git(cwd: Path, *args: str) -> str:
    result = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, f"git {' '.join(args)}: {result.stderr}"
    return result.stdout.strip()


def configure(clone: Path, name: str = "Dev") -> None:
    git(clone, "config", "user.name", name)
    git(clone, "config", "user.email", f"{name.lower()}@example.com")


@pytest.fixture
def repo(shop: Path, tmp_path: Path) -> Path:
    """The shop example committed on main, pushed to a bare remote; returns the working clone."""
    remote = tmp_path / "remote.git"
    git(tmp_path, "init", "--quiet", "--bare", "-b", "main", str(remote))
    (shop / ".gitignore").write_text("*.db\n__pycache__/\n")
    git(shop, "init", "--quiet", "-b", "main")
    configure(shop)
    git(shop, "add", "-A")
    git(shop, "commit", "--quiet", "-m", "shop")
    git(shop, "remote", "add", "origin", str(remote))
    git(shop, "push", "--quiet", "-u", "origin", "main")
    return shop


def clone(repo: Path, name: str) -> Path:
    target = repo.parent / name
    git(repo.parent, "clone", "--quiet", str(repo.parent / "remote.git"), str(target))
    configure(target, name.title())
    return target


def write_revision(project: Path, revision: str, down: str, upgrade: str, downgrade: str = "pass",
                   message: str = "change") -> Path:
    path = project / "migrations" / "versions" / f"{revision}_{message.replace(' ', '_')}.py"
    path.write_text(
        f'"""{message}\n\nRevision ID: {revision}\nRevises: {down}\n"""\nimport sqlalchemy as sa\n'
        f"from alembic import op\n\nrevision = {revision!r}\ndown_revision = {down!r}\nbranch_labels = None\n"
        f"depends_on = None\n\n\ndef upgrade() -> None:\n    {upgrade}\n\n\ndef downgrade() -> None:\n"
        f"    {downgrade}\n")
    return path


def add_nickname_revision(project: Path, revision: str = "a1b2c3d4e5f6", down: str = HEAD) -> Path:
    return write_revision(
        project, revision, down,
        'op.add_column("customers", sa.Column("nickname", sa.String(40), nullable=True))',
        'with op.batch_alter_table("customers") as batch_op:\n        batch_op.drop_column("nickname")',
        message="add customer nickname")


def ci(cwd: Path, *args: str, summary: Path | None = None, actions: bool = False) -> subprocess.CompletedProcess:
    env = {"GITHUB_ACTIONS": "true" if actions else "false", "GITHUB_STEP_SUMMARY": str(summary or "")}
    return run_safemigrate("ci", *args, cwd=cwd, env=env)


def commit_all(clone_: Path, message: str) -> None:
    git(clone_, "add", "-A")
    git(clone_, "commit", "--quiet", "-m", message)


# -- ci check -------------------------------------------------------------------------
def test_model_change_without_migration_fails_and_summary_shows_the_missing_ddl(repo, tmp_path):
    git(repo, "checkout", "--quiet", "-b", "feature")
    add_model_line(repo, "Customer", NICKNAME)
    commit_all(repo, "add nickname to the model")
    summary = tmp_path / "summary.md"
    summary.write_text("## an earlier step\n")

    result = ci(repo, "check", "--base", "origin/main", summary=summary)

    assert result.returncode == 1, result.stdout + result.stderr
    text = summary.read_text()
    assert text.startswith("## an earlier step\n")  # appended, not overwritten
    assert "## safemigrate ci check: :x: migrations need attention" in text
    assert "column customers.nickname (VARCHAR(40)) is missing" in text
    assert NICKNAME_DDL + ";" in text
    assert "op.add_column('customers', sa.Column('nickname', sa.String(length=40), nullable=True))" in text
    assert "✗ migrations need attention" in result.stdout


@pytest.mark.slow
def test_the_same_branch_with_its_migration_passes_and_summary_holds_its_sql(repo, tmp_path):
    git(repo, "checkout", "--quiet", "-b", "feature")
    add_model_line(repo, "Customer", NICKNAME)
    add_nickname_revision(repo)
    commit_all(repo, "nickname with its migration")
    summary = tmp_path / "summary.md"

    result = ci(repo, "check", "--base", "origin/main", summary=summary)

    assert result.returncode == 0, result.stdout + result.stderr
    text = summary.read_text()
    assert "## safemigrate ci check: :white_check_mark: migrations ready to merge" in text
    # summary first, then the revision's SQL in a collapsible block
    assert text.index("| Check | Result |") < text.index("<details><summary><code>a1b2c3d4e5f6</code>")
    block = text[text.index("<details><summary><code>a1b2c3d4e5f6</code>"):]
    assert "migrations/versions/a1b2c3d4e5f6_add_customer_nickname.py" in block.splitlines()[0]
    assert f"```sql\n{NICKNAME_DDL};\n```" in block
    assert "| :white_check_mark: | Upgrade / downgrade / upgrade | 1 revision(s) round-tripped |" in text
    assert "| :white_check_mark: | Lint | 0 blocking, 0 warning(s) |" in text

    as_json = ci(repo, "check", "--base", "origin/main", "--format", "json")
    assert as_json.returncode == 0, as_json.stderr
    data = json.loads(as_json.stdout)
    assert data["kind"] == "ci-check" and data["schema_version"] == 1
    assert data["base_heads"] == [HEAD] and data["heads"] == ["a1b2c3d4e5f6"]
    assert [r["revision"] for r in data["new_revisions"]] == ["a1b2c3d4e5f6"]
    statements = [s["sql"] for r in data["review"]["revisions"] for s in r["statements"] if not s["bookkeeping"]]
    assert statements == [NICKNAME_DDL]
    assert data["round_trip"]["revisions"][0]["ok"] is True


def test_editing_a_merged_migration_fails_naming_the_file(repo, tmp_path):
    git(repo, "checkout", "--quiet", "-b", "feature")
    merged = repo / "migrations" / "versions" / "916a526e23a8_add_payments.py"
    source = merged.read_text()
    merged.write_text(source.replace("def upgrade() -> None:\n",
                                     "def upgrade() -> None:\n    op.execute('SELECT 1')\n", 1))
    commit_all(repo, "tweak an old migration")
    summary = tmp_path / "summary.md"

    result = ci(repo, "check", "--base", "origin/main", summary=summary, actions=True)

    assert result.returncode == 1, result.stdout + result.stderr
    name = "migrations/versions/916a526e23a8_add_payments.py"
    line = source.splitlines().index("def upgrade() -> None:") + 2
    assert (f"::error file={name},line={line},title=safemigrate edited_revision::{name} edits revision "
            "916a526e23a8, which is already merged into origin/main.") in result.stdout
    assert f"| :x: | Merged revisions unchanged | `{name}` |" in summary.read_text()
    assert f"git checkout origin/main -- {name}" in summary.read_text()


def test_deleting_a_merged_migration_fails_naming_the_file(repo):
    git(repo, "checkout", "--quiet", "-b", "feature")
    # remove the head revision: the history stays loadable, the merged file is gone
    git(repo, "rm", "--quiet", f"migrations/versions/{HEAD}_add_customer_loyalty_points.py")
    git(repo, "commit", "--quiet", "-m", "drop a revision")

    result = ci(repo, "check", "--base", "origin/main")

    assert result.returncode == 1
    assert "deleted revision" in result.stdout
    assert f"Revision {HEAD} (migrations/versions/{HEAD}_add_customer_loyalty_points.py) is merged into " \
           "origin/main but " \
           "this branch deletes it." in result.stdout


@pytest.mark.slow
def test_second_of_two_branches_on_the_same_parent_gets_the_multiple_heads_message(repo, tmp_path):
    first = clone(repo, "first")
    git(first, "checkout", "--quiet", "-b", "color")
    add_model_line(first, "Product", "color: Mapped[str | None] = mapped_column(sa.String(20))")
    write_revision(first, "b7c8d9e0f1a2", HEAD,
                   'op.add_column("products", sa.Column("color", sa.String(20), nullable=True))',
                   message="add product color")
    commit_all(first, "color")

    git(repo, "checkout", "--quiet", "-b", "nickname")
    add_model_line(repo, "Customer", NICKNAME)
    add_nickname_revision(repo)
    commit_all(repo, "nickname")
    assert ci(repo, "check", "--base", "origin/main").returncode == 0  # fine while main has not moved

    # the first branch is merged
    git(first, "checkout", "--quiet", "main")
    git(first, "merge", "--quiet", "--no-edit", "color")
    git(first, "push", "--quiet", "origin", "main")

    # the second branch as it is: it lacks the revision that landed
    git(repo, "fetch", "--quiet")
    behind = ci(repo, "check", "--base", "origin/main")
    assert behind.returncode == 1
    assert "origin/main gained revision(s) b7c8d9e0f1a2 (migrations/versions/b7c8d9e0f1a2_add_product_color.py) " \
           "after this branch started." in behind.stdout
    assert "set down_revision = 'b7c8d9e0f1a2' in migrations/versions/a1b2c3d4e5f6_add_customer_nickname.py" \
        in behind.stdout

    # the second branch merged with main, as GitHub tests a pull request: two heads
    git(repo, "merge", "--quiet", "--no-edit", "origin/main")
    summary = tmp_path / "summary.md"
    merged = ci(repo, "check", "--base", "origin/main", summary=summary, actions=True)
    assert merged.returncode == 1
    text = summary.read_text()
    assert "**multiple heads**: The migration history has 2 heads (a1b2c3d4e5f6, b7c8d9e0f1a2)" in text
    assert "Re-parent it: set down_revision = 'b7c8d9e0f1a2' in " \
           "migrations/versions/a1b2c3d4e5f6_add_customer_nickname.py. Or join the heads with " \
           "`alembic merge -m \"merge heads\" a1b2c3d4e5f6 b7c8d9e0f1a2`." in text
    assert "::error file=migrations/versions/a1b2c3d4e5f6_add_customer_nickname.py,line=10," \
           "title=safemigrate not_attached::" in merged.stdout

    # re-parenting as told makes it pass
    path = repo / "migrations" / "versions" / "a1b2c3d4e5f6_add_customer_nickname.py"
    path.write_text(path.read_text().replace(f"down_revision = '{HEAD}'", "down_revision = 'b7c8d9e0f1a2'"))
    commit_all(repo, "re-parent")
    fixed = ci(repo, "check", "--base", "origin/main")
    assert fixed.returncode == 0, fixed.stdout


def test_lint_findings_become_annotations_and_json_stays_clean(repo):
    git(repo, "checkout", "--quiet", "-b", "cleanup")
    path = write_revision(repo, "c0ffee000001", HEAD, 'op.execute("DELETE FROM payments")', message="clear payments")
    commit_all(repo, "clear payments")

    result = ci(repo, "check", "--base", "origin/main", "--format", "json", actions=True)

    assert result.returncode == 1
    data = json.loads(result.stdout)  # annotations went to stderr
    assert data["lint"]["findings"][0]["rule"] == "delete-without-where"
    line = path.read_text().splitlines().index('    op.execute("DELETE FROM payments")') + 1
    assert result.stderr.startswith(
        f"::error file=migrations/versions/c0ffee000001_clear_payments.py,line={line},"
        "title=safemigrate delete-without-where::")


def test_unknown_base_ref_is_a_usage_error_reported_in_the_summary_too(repo, tmp_path):
    summary = tmp_path / "summary.md"
    result = ci(repo, "check", "--base", "origin/no-such-branch", summary=summary, actions=True)
    assert result.returncode == 2
    assert "There is no git ref 'origin/no-such-branch'" in result.stderr
    assert "fetch-depth: 0" in result.stderr
    assert result.stdout.startswith("::error title=safemigrate ci check%3A Usage error::There is no git ref")
    assert summary.read_text().startswith("## safemigrate ci check: :x: Usage error (exit 2)")


@pytest.mark.postgres
def test_check_on_a_postgres_scratch_server(repo, tmp_path, pg_server):
    git(repo, "checkout", "--quiet", "-b", "feature")
    add_model_line(repo, "Customer", NICKNAME)
    add_nickname_revision(repo)
    commit_all(repo, "nickname")
    summary = tmp_path / "summary.md"

    result = ci(repo, "check", "--base", "origin/main", "--scratch-url", pg_server, summary=summary)

    assert result.returncode == 0, result.stdout + result.stderr
    text = summary.read_text()
    assert "SQL for **postgresql**" in text
    assert "### SQL of each new revision (postgresql, captured)" in text
    assert f"{NICKNAME_DDL};" in text
    assert "round-tripped" in text


# -- ci autofix ---------------------------------------------------------------------------
def _log(clone_: Path, ref: str = "HEAD") -> list[str]:
    return git(clone_, "log", "--format=%s", ref).splitlines()


@pytest.mark.slow
def test_autofix_commits_one_revision_then_check_passes_and_a_second_run_does_nothing(repo, tmp_path):
    add_model_line(repo, "Customer", NICKNAME)
    commit_all(repo, "merge: nickname without a migration")
    git(repo, "push", "--quiet", "origin", "main")
    before = git(repo, "rev-parse", "HEAD")
    summary = tmp_path / "summary.md"

    result = ci(repo, "autofix", "--push", "--author", "Migration Bot <bot@example.com>", summary=summary)

    assert result.returncode == 0, result.stdout + result.stderr
    assert git(repo, "rev-list", "--count", f"{before}..origin/main") == "1"
    subject = _log(repo, "origin/main")[0]
    assert subject == "autofix: add customers.nickname [skip ci]"
    assert git(repo, "log", "-1", "--format=%an <%ae>") == "Migration Bot <bot@example.com>"
    added = git(repo, "show", "--name-only", "--format=", "HEAD").splitlines()
    assert len(added) == 1 and added[0].startswith("migrations/versions/") and added[0].endswith(
        "_autofix_add_customers_nickname.py")
    assert git(repo, "status", "--porcelain") == ""
    assert "## safemigrate ci autofix: :white_check_mark: pushed" in summary.read_text()
    assert f"{NICKNAME_DDL};" in summary.read_text()

    check = ci(repo, "check", "--base", before)
    assert check.returncode == 0, check.stdout

    again = ci(repo, "autofix", "--push")
    assert again.returncode == 0, again.stdout + again.stderr
    assert "in-sync" in again.stdout
    assert git(repo, "rev-list", "--count", f"{before}..origin/main") == "1"


def test_autofix_refuses_a_destructive_fix(repo):
    models = repo / "shop" / "models.py"
    source = models.read_text()
    line = next(x for x in source.splitlines() if x.strip().startswith("phone:"))
    models.write_text(source.replace(line + "\n", "", 1))
    commit_all(repo, "merge: the model lost customers.phone")
    git(repo, "push", "--quiet", "origin", "main")
    before = git(repo, "rev-parse", "HEAD")

    result = ci(repo, "autofix", "--push")

    assert result.returncode == 1, result.stdout + result.stderr
    assert "safemigrate ci autofix: destructive" in result.stdout
    assert "with allow('drop-column', 'customers.phone', reason='...')" in result.stdout
    assert git(repo, "rev-parse", "HEAD") == before
    assert git(repo, "ls-remote", "origin", "refs/heads/main").split()[0] == before
    assert git(repo, "status", "--porcelain") == ""  # the generated file is gone


@pytest.mark.slow
def test_autofix_rebases_once_when_main_moved(repo):
    add_model_line(repo, "Customer", NICKNAME)
    commit_all(repo, "merge: nickname without a migration")
    git(repo, "push", "--quiet", "origin", "main")
    other = clone(repo, "other")
    (other / "NOTES.md").write_text("meanwhile\n")
    commit_all(other, "meanwhile on main")
    git(other, "push", "--quiet", "origin", "main")

    result = ci(repo, "autofix", "--push")

    assert result.returncode == 0, result.stdout + result.stderr
    assert "origin/main moved while autofix ran" in result.stdout
    assert _log(repo, "origin/main")[:2] == ["autofix: add customers.nickname [skip ci]", "meanwhile on main"]


def test_autofix_fails_clearly_when_it_cannot_push(repo):
    add_model_line(repo, "Customer", NICKNAME)
    commit_all(repo, "merge: nickname without a migration")
    git(repo, "remote", "set-url", "origin", str(repo.parent / "gone.git"))

    result = ci(repo, "autofix", "--push")

    assert result.returncode == 1
    assert "safemigrate ci autofix: push-failed" in result.stdout
    assert "but not pushed to origin/main" in result.stdout
    assert "re-run the workflow" in result.stdout


def test_project_in_a_subfolder_reports_paths_from_the_repository_root(shop, tmp_path):
    repo = tmp_path / "mono"
    project = repo / "services" / "shop"
    project.parent.mkdir(parents=True)
    shop.rename(project)
    git(repo, "init", "--quiet", "-b", "main")
    configure(repo)
    (repo / ".gitignore").write_text("*.db\n__pycache__/\n")
    commit_all(repo, "monorepo")
    git(repo, "checkout", "--quiet", "-b", "cleanup")
    path = write_revision(project, "c0ffee000001", HEAD, 'op.execute("DELETE FROM payments")', message="clear")
    commit_all(repo, "clear payments")

    result = ci(repo, "check", "--base", "main", "--project", "services/shop", actions=True)

    assert result.returncode == 1
    line = path.read_text().splitlines().index('    op.execute("DELETE FROM payments")') + 1
    assert result.stdout.startswith(f"::error file=services/shop/migrations/versions/c0ffee000001_clear.py,"
                                    f"line={line},title=safemigrate delete-without-where::")
