"""Each rule's documented Bad/Good migrations, run as a revision through Alembic and linted.

The docstrings are what `safemigrate rules explain` and docs/RULES.md show a user: the Bad migration must
make its rule fire, and the Good one must not (or only signed off), when they are run as migrations
(Alembic's offline mode renders what each `op.` call sends, for the rule's first dialect), not only read.
"""

from __future__ import annotations

import textwrap

import pytest
from helpers import make_project

from safemigrate import Project
from safemigrate.guard.registry import load_rules

RULES = load_rules()
HEADER = '''"""example"""
import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


'''


def _lint_example(tmp_path, rule_id: str, code: str) -> list:
    folder = make_project(tmp_path / "app", "pass")
    # plain Alembic's defaults: no lock_timeout set for the revision (the examples set what they need)
    settings = folder / "pyproject.toml"
    settings.write_text(settings.read_text() + 'lock_timeout = "0"\n')
    code = textwrap.dedent(code).strip() + "\n"
    if "def downgrade" not in code:
        code += "\n\ndef downgrade():\n    pass\n"
    (folder / "migrations" / "versions" / "0002_change.py").write_text(HEADER + code)
    dialect = RULES[rule_id].dialects[0]
    report = Project.from_pyproject(folder, dialect=dialect).lint("0001:0002")
    assert report.revisions == ["0002"] and not report.not_linted, report.notes
    return [f for f in report.findings if f.rule == rule_id and not f.signed_off]


@pytest.mark.parametrize("rule_id", sorted(RULES))
def test_the_bad_migration_makes_its_rule_fire(tmp_path, rule_id):
    assert _lint_example(tmp_path, rule_id, RULES[rule_id].bad_example or ""), RULES[rule_id].bad_example


@pytest.mark.parametrize("rule_id", sorted(RULES))
def test_the_good_migration_leaves_its_rule_silent(tmp_path, rule_id):
    found = _lint_example(tmp_path, rule_id, RULES[rule_id].good_example or "")
    assert not found, [f.message for f in found]
