"""Rule control: the rule list, one rule's explanation, and ``[tool.safemigrate.lint]`` applied to findings.

``select`` / ``ignore`` / ``severity`` shape what *lint* reports; they never shape what the run-time guard
refuses. A rule the guard refuses in production (destructive, of severity error) that is ignored, not selected or set to
``warning`` is therefore still reported, as a warning that says so: lint never reads as clean for a change
the deploy will refuse. Only ``allow(rule, target, reason=...)`` in the revision file signs one off.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass, field, replace

from safemigrate.config.settings import LintSettings
from safemigrate.core.errors import ConfigError, UsageError
from safemigrate.core.results import _Serialisable
from safemigrate.guard.model import Category, Finding, Severity
from safemigrate.guard.registry import Rule, load_rules

#: Finding ids that are not rules of the registry but may be selected or ignored like one.
PSEUDO_RULES = ("unused-sign-off",)

GUARD_STILL_REFUSES = (
    "{how}; lint reports it as a warning only. The run-time guard still refuses this change in production "
    "unless the revision signs it off: allow({rule!r}, {target!r}, reason='...')."
)


@dataclass(frozen=True)
class RuleEntry:
    id: str
    severity: str
    category: str
    dialects: list[str]
    summary: str


@dataclass
class RulesReport(_Serialisable):
    kind = "rules"
    rules: list[RuleEntry]


@dataclass
class RuleExplanation(_Serialisable):
    kind = "rule"
    id: str
    severity: str
    category: str
    dialects: list[str]
    summary: str
    explanation: str  # the docstring without its Bad/Good blocks
    bad_example: str | None
    good_example: str | None
    blocked_at_run_time: bool = field(default=False)


def refused_by_guard(rule_id: str) -> bool:
    """Whether the run-time guard refuses this rule's findings in production (unless signed off): the
    destructive rules of severity error, as the guard judges them (enforce/runtime.py, pg_run.py)."""
    rule = load_rules().get(rule_id)
    return rule is not None and rule.category is Category.DESTRUCTIVE and rule.severity is Severity.ERROR


def _entry(rule: Rule) -> RuleEntry:
    return RuleEntry(rule.id, rule.severity.value, rule.category.value, list(rule.dialects), rule.summary)


def list_rules() -> RulesReport:
    """Every registered rule, sorted by id."""
    return RulesReport([_entry(r) for _, r in sorted(load_rules().items())])


def known_ids() -> list[str]:
    return sorted({*load_rules(), *PSEUDO_RULES})


def closest_ids(rule_id: str) -> list[str]:
    ids = known_ids()
    close = difflib.get_close_matches(rule_id, ids, n=3, cutoff=0.5)
    return close or [i for i in ids if rule_id and (rule_id in i or i in rule_id)][:3]


def _suggestion(rule_id: str) -> str:
    close = closest_ids(rule_id)
    return (f"Did you mean {' or '.join(repr(c) for c in close)}? " if close else "") + \
        "`safemigrate rules` lists every rule id."


def explain_rule(rule_id: str) -> RuleExplanation:
    """One rule's documentation: what it catches, with its Bad and Good migrations."""
    rule = load_rules().get(rule_id)
    if rule is None:
        raise UsageError(
            f"There is no rule {rule_id!r}.",
            "Rule ids are kebab-case names such as add-index-non-concurrently; a misspelt id explains nothing.",
            _suggestion(rule_id),
        )
    return RuleExplanation(rule.id, rule.severity.value, rule.category.value, list(rule.dialects), rule.summary,
                           _prose(rule.doc), rule.bad_example, rule.good_example,
                           refused_by_guard(rule.id))


def _prose(doc: str) -> str:
    """The docstring without its ``Bad::`` / ``Good::`` blocks (shown apart)."""
    out: list[str] = []
    skipping = False
    for line in doc.splitlines():
        if line.strip() in {"Bad::", "Good::"}:
            skipping = True
            continue
        if skipping and line.strip() and not line.startswith((" ", "\t")):
            skipping = False
        if not skipping:
            out.append(line)
    return "\n".join(out).strip()


def check_lint_settings(lint: LintSettings) -> None:
    """A configuration error for an unknown rule id in select, ignore or severity (called when settings load)."""
    known = set(known_ids())
    named: list[tuple[str, str]] = [("select", r) for r in lint.select or ()]
    named += [("ignore", r) for r in lint.ignore]
    named += [("severity", r) for r in lint.severity]
    for key, rule_id in named:
        if rule_id not in known:
            raise ConfigError(
                f"[tool.safemigrate.lint] {key} names an unknown rule {rule_id!r}.",
                "A misspelt rule id would silently select, ignore or re-rate nothing.",
                _suggestion(rule_id),
            )


def apply_lint_settings(findings: Iterable[Finding], lint: LintSettings) -> list[Finding]:
    """Findings as ``[tool.safemigrate.lint]`` asks lint to report them (see the module's docstring)."""
    out: list[Finding] = []
    known = set(known_ids())
    for finding in findings:
        if finding.rule not in known:
            out.append(finding)  # safemigrate's own findings about sign-offs are not configurable
            continue
        excluded = (lint.select is not None and finding.rule not in lint.select) or finding.rule in lint.ignore
        wanted = lint.severity.get(finding.rule)
        destructive = refused_by_guard(finding.rule)
        if excluded and not destructive:
            continue
        if excluded or (destructive and wanted == "warning" and finding.severity is Severity.ERROR):
            how = ("ignored in [tool.safemigrate.lint]" if finding.rule in lint.ignore
                   else "not selected in [tool.safemigrate.lint]" if excluded
                   else "set to warning in [tool.safemigrate.lint]")
            note = GUARD_STILL_REFUSES.format(how=how[0].upper() + how[1:], rule=finding.rule, target=finding.target)
            finding = replace(finding, severity=Severity.WARNING,
                              help=finding.help if finding.signed_off else f"{note} {finding.help}")
        elif wanted is not None:
            finding = replace(finding, severity=Severity(wanted))
        out.append(finding)
    return out
