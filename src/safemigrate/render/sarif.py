"""SARIF 2.1.0 for GitHub code scanning, and GitHub Actions annotations."""

from __future__ import annotations

import json
from typing import Any

from safemigrate._version import __version__
from safemigrate.guard.lint import LintReport
from safemigrate.guard.registry import RULES, load_rules
from safemigrate.render.escape import command_data, command_property

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"


def sarif(report: LintReport) -> str:
    load_rules()
    used = sorted({f.rule for f in report.findings})
    rules: list[dict[str, Any]] = []
    for rule_id in used:
        rule = RULES.get(rule_id)
        entry: dict[str, Any] = {"id": rule_id, "name": "".join(p.title() for p in rule_id.split("-"))}
        if rule is not None:
            entry.update(
                shortDescription={"text": rule.summary},
                fullDescription={"text": rule.doc.split("\n\n")[0]},
                help={"text": f"Bad:\n{rule.bad_example}\n\nGood:\n{rule.good_example}"},
                defaultConfiguration={"level": rule.severity.value},
                properties={"category": rule.category.value},
            )
        rules.append(entry)
    results = []
    for finding in report.findings:
        result: dict[str, Any] = {
            "ruleId": finding.rule,
            "ruleIndex": used.index(finding.rule),
            "level": "note" if finding.signed_off else finding.severity.value,
            "message": {"text": f"{finding.message} {finding.help}"},
        }
        if finding.path:
            region = {"startLine": finding.line or 1}
            result["locations"] = [{"physicalLocation": {"artifactLocation": {"uri": finding.path},
                                                         "region": region}}]
        if finding.signed_off:
            result["suppressions"] = [{"kind": "inSource", "justification": finding.signed_off}]
        results.append(result)
    document = {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {"name": "safemigrate", "version": __version__,
                                "informationUri": "https://github.com/safemigrate/safemigrate",
                                "rules": rules}},
            "results": results,
        }],
    }
    return json.dumps(document, indent=2)


def github(report: LintReport) -> str:
    """One ``::error``/``::warning`` workflow command per finding (signed-off ones are skipped)."""
    lines = []
    for finding in report.findings:
        if finding.signed_off:
            continue
        props = [f"title={command_property(finding.rule)}"]
        if finding.path:
            props.insert(0, f"file={command_property(finding.path)}")
            if finding.line:
                props.insert(1, f"line={int(finding.line)}")
        text = command_data(f"{finding.message} {finding.help}")
        lines.append(f"::{finding.severity.value} {','.join(props)}::{text}")
    return "\n".join(lines) + ("\n" if lines else "")
