"""``safemigrate lint``: the rules over what each revision sends, with sign-offs applied."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

from safemigrate.config.settings import LintSettings
from safemigrate.core.paths import relative
from safemigrate.core.results import RevisionRun, SignOff, _Serialisable
from safemigrate.guard.engine import lint_sql
from safemigrate.guard.model import Category, Context, Finding, Severity
from safemigrate.guard.selection import apply_lint_settings, known_ids, refused_by_guard
from safemigrate.guard.signoff import InlineAllow, inline_allowances

UNUSED_SIGNOFF = "unused-sign-off"
INVALID_INLINE_ALLOW = "invalid-inline-allow"


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

    @property
    def refused_at_run_time(self) -> list[Finding]:
        """Unsigned findings the run-time guard refuses in production, whatever [tool.safemigrate.lint] made of
        them in lint (an ignored or downgraded destructive rule): what the production preflight refuses too."""
        return [f for f in self.findings if f.signed_off is None and refused_by_guard(f.rule)]


def lint_runs(runs: list[RevisionRun], *, dialect: str, pg_version: int, lock_timeout_set: bool,
              declared: dict[str, tuple[SignOff, ...]], root: Path,
              settings: LintSettings | None = None) -> list[Finding]:
    """Findings for each revision's statements, in order, with sign-offs, inline comments and
    ``[tool.safemigrate.lint]`` applied. The one place lint's findings are made (lint, the production
    preflight and ``ci check`` all come here)."""
    findings: list[Finding] = []
    seen: set[tuple[str, str, str | None, int | None]] = set()
    for run in runs:
        info = run.revision
        context = Context(dialect=dialect, pg_version=pg_version, revision=info.revision,
                          lock_timeout_set=lock_timeout_set)
        module_signoffs = declared.get(info.revision, ())
        used: set[tuple[str, str, str | None, int | None]] = set()
        comments = inline_allowances(root / info.path) if info.path else ()
        used_comments: set[InlineAllow] = set()
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
                elif comment := next((c for c in comments if c.reason and c.covers(finding.rule, finding.line)),
                                     None):
                    used_comments.add(comment)
                    finding = _inline(finding, comment)
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
        findings += _comment_findings(comments, used_comments, info.revision, info.path)
    return apply_lint_settings(findings, settings) if settings is not None else findings


def _inline(finding: Finding, comment: InlineAllow) -> Finding:
    """A finding an inline comment covers: signed off, except one the run-time guard refuses (it judges
    objects in the catalog, not lines: only allow(rule, target, reason=...) signs those off)."""
    if not refused_by_guard(finding.rule):
        return replace(finding, signed_off=comment.reason)
    return replace(finding, help=(
        f"The comment `# safemigrate: allow[{finding.rule}]` does not sign off a destructive change: the run-time "
        f"guard refuses it in production unless the revision names the object, "
        f"allow({finding.rule!r}, {finding.target!r}, reason={comment.reason!r}). {finding.help}"))


def _comment_findings(comments: tuple[InlineAllow, ...], used: set[InlineAllow], revision: str,
                      path: str | None) -> list[Finding]:
    """A comment without a reason or naming an unknown rule is an error; one that covers nothing, a warning."""
    known = set(known_ids())
    out: list[Finding] = []
    for comment in comments:
        unknown = [r for r in comment.rules if r not in known]
        problem = ("names no rule" if not comment.rules
                   else f"names unknown rule(s) {', '.join(unknown)}" if unknown
                   else "gives no reason" if not comment.reason else None)
        if problem is not None:
            out.append(Finding(
                INVALID_INLINE_ALLOW, Severity.ERROR, Category.LOCKING,
                f"The comment `# safemigrate: allow[{', '.join(comment.rules)}]` {problem}, so it allows nothing.",
                "Write `# safemigrate: allow[rule-id] why this is safe here` on the line of the operation or the "
                "line above it: a sign-off must say why (`safemigrate rules` lists the ids).",
                "", "", revision=revision, path=path, line=comment.line))
        elif comment not in used:
            out.append(Finding(
                UNUSED_SIGNOFF, Severity.WARNING, Category.LOCKING,
                f"The comment `# safemigrate: allow[{', '.join(comment.rules)}]` covers nothing in revision "
                f"{revision}.",
                "Remove it, or move it to the line of the operation (or the line above it): a stale comment would "
                "silently allow a later change.",
                "", "", revision=revision, path=path, line=comment.line))
    return out


def _key(signoff: SignOff) -> tuple[str, str, str | None, int | None]:
    return signoff.rule, signoff.target.lower(), signoff.path, signoff.line

