"""safemigrate review: the SQL each revision really sends, per revision."""

from __future__ import annotations

import json

import pytest
from helpers import upgrade

from safemigrate import Project
from safemigrate.core.errors import RevisionGraphError


def _sql(run) -> str:
    return "\n".join(s.sql for s in run.statements if not s.bookkeeping)


def test_captured_review_of_a_range(shop):
    report = Project.from_pyproject(shop).review("474785f50e38:47dfb1365042")
    ids = [r.revision.revision for r in report.revisions]
    assert ids == ["e1bc5fb903a2", "fdb845e4d313", "47dfb1365042"]
    sku, _, flags = report.revisions
    assert sku.revision.message.startswith("add product sku")
    # the data migration's UPDATE is captured as really sent, not guessed
    assert "UPDATE products SET sku" in _sql(sku)
    # the raw SQL of op.execute() is captured verbatim
    assert "UPDATE products SET is_active = FALSE WHERE price = 0" in _sql(flags)
    # Alembic's own version bump is kept apart from the revision's statements
    assert any(s.bookkeeping and "alembic_version" in s.sql for s in sku.statements)
    assert report.mode == "captured"


def test_bulk_insert_parameters_are_shown(shop):
    report = Project.from_pyproject(shop).review("474785f50e38")
    seed = report.revisions[0]
    inserts = [s for s in seed.statements if s.sql.startswith("INSERT INTO categories")]
    assert inserts and inserts[0].parameters and "books" in inserts[0].parameters.lower()


@pytest.mark.postgres
def test_pending_revisions_by_default(shop, pg_url, pg_server):
    upgrade(shop, pg_url, "916a526e23a8")
    report = Project.from_pyproject(shop, database_url=pg_url, scratch_url=pg_server).review()
    assert [r.revision.revision for r in report.revisions] == ["36c914febd34", "359940d6ad08", "d5f6b1370600"]
    assert report.dialect == "postgresql"
    assert "CREATE INDEX ix_orders_customer_id_created_at ON orders (customer_id, created_at)" in \
        _sql(report.revisions[0])


def test_nothing_pending(shop, sqlite_url):
    upgrade(shop, sqlite_url)
    report = Project.from_pyproject(shop, database_url=sqlite_url).review()
    assert report.revisions == [] and report.notes == ["Nothing to review: no pending revisions."]


def test_offline_mode_renders_for_a_dialect(shop):
    report = Project.from_pyproject(shop).review("base:50f9c33cdc22", offline=True, dialect="postgresql")
    assert report.mode == "offline" and report.dialect == "postgresql"
    assert [r.revision.revision for r in report.revisions] == ["98a5510249e6", "50f9c33cdc22"]
    orders = _sql(report.revisions[1])
    assert "CREATE TYPE order_status AS ENUM" in orders
    assert "CREATE TABLE orders" in orders


def test_unknown_range_is_a_usage_error(shop):
    with pytest.raises(RevisionGraphError) as info:
        Project.from_pyproject(shop).review("abc:def")
    assert "The revision range 'abc:def' does not exist" in info.value.what
    assert info.value.exit_code == 2


def test_cli_review_json_and_markdown(shop, cli):
    result = cli("review", "e1bc5fb903a2", "--project", str(shop), "--format", "json")
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    assert data["kind"] == "review" and data["revisions"][0]["revision"]["revision"] == "e1bc5fb903a2"
    md = cli("review", "e1bc5fb903a2", "--project", str(shop), "--format", "markdown")
    assert "<details><summary><code>e1bc5fb903a2</code> add product sku" in md.stdout
    assert "```sql" in md.stdout


def test_rich_markup_in_a_revision_message_is_printed_as_written(tmp_path):
    """A pull request's revision message cannot style or link the text output (issue #10 §5)."""
    from conftest import run_safemigrate
    from helpers import make_project

    project = make_project(tmp_path / "app", 'op.add_column("users", sa.Column("nick", sa.String(20)))')
    path = project / "migrations" / "versions" / "0002_change.py"
    marked = '"""[bold red]urgent[/bold red] [link=https://e.vil]x[/link]'
    path.write_text(path.read_text().replace('"""change', marked, 1))
    result = run_safemigrate("review", "--database-url", f"sqlite:///{tmp_path / 'x.db'}", cwd=project)
    assert result.returncode == 0, result.stderr
    assert "[bold red]urgent[/bold red] [link=https://e.vil]x[/link]" in result.stdout
