"""Rule cases as data: tests/rules/<rule-id>.yaml, run by one parametrised test.

Each file::

    rule: drop-column
    message: "the exact consequence text of the first fail case"
    fail:                      # each must make this rule fire at least once
      - ALTER TABLE users DROP COLUMN email
      - sql: ALTER TABLE users DROP COLUMN email
        context: {pg_version: 10}
    pass:                      # this rule must stay silent on each
      - ALTER TABLE users ADD COLUMN nickname text

``context`` keys are fields of safemigrate.guard.Context (dialect, pg_version,
in_transaction, lock_timeout_set, created_tables); the default is PostgreSQL 15,
inside a transaction, lock_timeout not set.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from safemigrate.guard.engine import lint_sql
from safemigrate.guard.model import Context
from safemigrate.guard.registry import load_rules

TESTS = Path(__file__).resolve().parents[1]
CASES = TESTS / "rules"
RULES = load_rules()


def _load(path: Path) -> dict:
    return yaml.safe_load(path.read_text())


def _cases():
    for path in sorted(CASES.glob("*.yaml")):
        data = _load(path)
        for kind in ("fail", "pass"):
            for index, case in enumerate(data.get(kind) or []):
                case = {"sql": case} if isinstance(case, str) else case
                yield pytest.param(data["rule"], kind, case, id=f"{path.stem}-{kind}-{index}")


def _context(case: dict) -> Context:
    options = dict(case.get("context") or {})
    if "created_tables" in options:
        options["created_tables"] = set(options["created_tables"])
    return Context(**options)


@pytest.mark.parametrize("rule_id, kind, case", list(_cases()))
def test_rule_case(rule_id, kind, case):
    assert rule_id in RULES, f"no rule {rule_id!r} is registered"
    findings = [f for f in lint_sql(case["sql"], _context(case)) if f.rule == rule_id]
    if kind == "fail":
        assert findings, f"{rule_id} should fire on: {case['sql']}"
    else:
        assert not findings, f"{rule_id} should not fire on: {case['sql']}\n{findings}"


@pytest.mark.parametrize("rule_id", sorted(RULES))
def test_every_rule_has_cases_and_a_full_message(rule_id):
    path = CASES / f"{rule_id}.yaml"
    assert path.is_file(), f"{rule_id} has no case file {path.name}"
    data = _load(path)
    assert data.get("fail") and data.get("pass"), f"{path.name} needs fail and pass cases"
    first = data["fail"][0]
    first = {"sql": first} if isinstance(first, str) else first
    messages = [f.message for f in lint_sql(first["sql"], _context(first)) if f.rule == rule_id]
    assert messages and messages[0] == data["message"]


@pytest.mark.parametrize("rule_id", sorted(RULES))
def test_every_rule_documents_a_bad_and_a_good_migration(rule_id):
    rule = RULES[rule_id]
    assert rule.summary and rule.summary[0].isupper() and not rule.summary.endswith(".")
    assert rule.bad_example, f"{rule_id}: docstring needs a 'Bad::' block with an Alembic migration"
    assert rule.good_example, f"{rule_id}: docstring needs a 'Good::' block with an Alembic migration"
    assert "op." in rule.bad_example and "op." in rule.good_example


def _corpus(name: str) -> list[str]:
    return _load(TESTS / "corpus" / f"{name}.yaml")["statements"]


_DESTRUCTIVE_CORPUS = TESTS / "corpus" / "destructive.yaml"


@pytest.mark.parametrize("sql", _corpus("destructive") if _DESTRUCTIVE_CORPUS.exists() else [])
def test_destructive_corpus_is_caught(sql):
    findings = lint_sql(sql, Context(lock_timeout_set=True))
    assert any(f.category.value == "destructive" for f in findings), sql


@pytest.mark.parametrize("sql", _corpus("safe") if (TESTS / "corpus" / "safe.yaml").exists() else [])
def test_safe_corpus_is_not_flagged(sql):
    findings = lint_sql(sql, Context(lock_timeout_set=True))
    assert not findings, f"{sql}\n{[(f.rule, f.message) for f in findings]}"


def test_corpus_sizes():
    assert len(_corpus("destructive")) >= 150
    assert len(_corpus("safe")) >= 150


def test_rules_md_is_generated_and_fresh():
    from safemigrate.guard.docs import render

    path = Path(__file__).resolve().parents[2] / "docs" / "RULES.md"
    assert path.is_file(), "run: python -m safemigrate.guard.docs"
    assert path.read_text() == render(), "docs/RULES.md is stale: run python -m safemigrate.guard.docs"


@pytest.mark.parametrize("sql, dialect", [
    ("INSERT INTO categories (name, slug) VALUES (%(name)s::VARCHAR, %(slug)s::VARCHAR)", "postgresql"),
    ("UPDATE products SET sku=%(sku)s WHERE products.id = %(id_1)s AND x = %s", "postgresql"),
    ("UPDATE t SET a = %(a)s WHERE id = %(id)s", "mysql"),
    ("DELETE FROM t WHERE id = ?", "sqlite"),
])
def test_driver_placeholders_are_parsed_not_reported(sql, dialect):
    findings = lint_sql(sql, Context(dialect=dialect, lock_timeout_set=True))
    assert not [f for f in findings if f.rule == "unparsable-statement"], findings


def test_statement_text_survives_non_ascii_text():
    findings = lint_sql("UPDATE t SET a = 'ééé' WHERE id = 1; DELETE FROM customers", Context(lock_timeout_set=True))
    delete = next(f for f in findings if f.rule == "delete-without-where")
    assert delete.statement == "DELETE FROM customers"


SNAPSHOTS = CASES / "snapshots"


def _snapshot(rule_id: str) -> dict:
    """What the rule says for each fail case of its file: message, help, target and fix, in full."""
    cases = []
    for case in _load(CASES / f"{rule_id}.yaml").get("fail") or []:
        case = {"sql": case} if isinstance(case, str) else case
        findings = [{"message": f.message, "help": f.help, "target": f.target, "fix": f.fix}
                    for f in lint_sql(case["sql"], _context(case)) if f.rule == rule_id]
        cases.append({**case, "findings": findings})
    return {"rule": rule_id, "cases": cases}


@pytest.mark.parametrize("rule_id", sorted(RULES))
def test_rule_messages_match_their_snapshot(rule_id):
    """The full text each fail case produces (sqlfluff-style snapshots). After a deliberate wording change,
    regenerate with ``SAFEMIGRATE_UPDATE_SNAPSHOTS=1 pytest tests/guard/test_rules.py -k snapshot`` and review
    the diff."""
    path = SNAPSHOTS / f"{rule_id}.yaml"
    now = _snapshot(rule_id)
    if os.environ.get("SAFEMIGRATE_UPDATE_SNAPSHOTS") == "1":
        SNAPSHOTS.mkdir(exist_ok=True)
        path.write_text(yaml.safe_dump(now, sort_keys=False, allow_unicode=True, width=120))
    assert path.is_file(), f"no snapshot {path.name}: run with SAFEMIGRATE_UPDATE_SNAPSHOTS=1 and review it"
    recorded = yaml.safe_load(path.read_text())
    for was, is_now in zip(recorded["cases"], now["cases"], strict=False):
        assert is_now == was, f"{rule_id}: what it says for {is_now['sql']!r} changed"
    assert len(recorded["cases"]) == len(now["cases"]), f"{rule_id}: cases added or removed; update the snapshot"
