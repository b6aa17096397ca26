"""``safemigrate lint``: the rules over what each revision sends, with sign-offs applied."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

from safemigrate.core.paths import relative
from safemigrate.core.results import RevisionRun, SignOff, _Serialisable
from safemigrate.guard.engine import lint_sql
from safemigrate.guard.model import Category, Context, Finding, Severity

UNUSED_SIGNOFF = "unused-sign-off"


@dataclass
class LintReport(_Serialisable):
    kind = "lint"
    mode: str  # captured | offline
    dialect: str
    pg_version: int
    revisions: list[str]
    findings: list[Finding]
    notes: list[str] = field(default_factory=list)
    not_linted: list[str] = field(default_factory=list)  # revisions offline mode could not render

    @property
    def blocking(self) -> list[Finding]:
        return [f for f in self.findings if f.severity is Severity.ERROR and f.signed_off is None]

    @property
    def ok(self) -> bool:
        return not self.blocking


def lint_runs(runs: list[RevisionRun], *, dialect: str, pg_version: int, lock_timeout_set: bool,
              declared: dict[str, tuple[SignOff, ...]], root: Path) -> list[Finding]:
    """Findings for each revision's statements, in order, with sign-offs applied."""
    findings: list[Finding] = []
    seen: set[tuple[str, str, str | None, int | None]] = set()
    for run in runs:
        info = run.revision
        context = Context(dialect=dialect, pg_version=pg_version, revision=info.revision,
                          lock_timeout_set=lock_timeout_set)
        module_signoffs = declared.get(info.revision, ())
        used: set[tuple[str, str, str | None, int | None]] = set()
        for statement in run.statements:
            if statement.bookkeeping:
                if statement.sql.upper() in {"BEGIN", "COMMIT"}:
                    context.in_transaction = statement.sql.upper() == "BEGIN"
                continue
            if statement.in_transaction is not None:
                context.in_transaction = statement.in_transaction
            # an observed batch operation is rendered as PostgreSQL SQL: read it as such
            here = context if not statement.operation else Context(
                dialect="postgresql", pg_version=pg_version, revision=info.revision, lock_timeout_set=True,
                created_tables=set(context.created_tables))
            for finding in lint_sql(statement.sql, here, categories=None if not statement.operation
                                    else {Category.DESTRUCTIVE}):
                finding = replace(finding, revision=info.revision, path=info.path, line=statement.line)
                key = (finding.rule, finding.target, finding.revision, finding.line)
                if key in seen:
                    continue  # an observed operation and the SQL it became: report it once
                seen.add(key)
                signoff = next((s for s in (*statement.signoffs, *module_signoffs)
                                if s.covers(finding.rule, finding.target)), None)
                if signoff is not None:
                    used.add(_key(signoff))
                    finding = replace(finding, signed_off=signoff.reason)
                findings.append(finding)
        every = {_key(s): s for s in module_signoffs}
        for statement in run.statements:
            every.update({_key(s): s for s in statement.signoffs})
        for key, signoff in every.items():
            if key not in used:
                findings.append(Finding(
                    UNUSED_SIGNOFF, Severity.WARNING, Category.DESTRUCTIVE,
                    f"The sign-off allow({signoff.rule!r}, {signoff.target!r}) covers nothing in revision "
                    f"{info.revision}.",
                    "Remove it, or correct its rule id or object name: a stale sign-off would silently allow a "
                    "later change.",
                    signoff.target, "", revision=info.revision,
                    path=relative(signoff.path, root) if signoff.path else info.path,
                    line=signoff.line,
                ))
    return findings


def _key(signoff: SignOff) -> tuple[str, str, str | None, int | None]:
    return signoff.rule, signoff.target.lower(), signoff.path, signoff.line

