"""``safemigrate ci autofix``: the self-healing post-merge fix.

On the main branch after a merge, when the models differ from the head
revision: autogenerate the missing revision through the destructive-change
guard (against a throwaway database at head), check and lint it, commit it
with ``[skip ci]`` and, with ``push``, push it. A fix that would be
destructive, or that fails the check or lint, is never committed: the
generated file is removed and the report says what a person has to do.
When the branch moved meanwhile the push is rejected: rebase once and retry,
then give up with a clear message.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from safemigrate.checks.check import check as check_models
from safemigrate.checks.lint import lint as lint_revisions
from safemigrate.checks.review import review as review_sql
from safemigrate.ci.git import GITHUB_ACTIONS_BOT, Git, Identity, identity_env
from safemigrate.core.errors import GitError
from safemigrate.core.paths import relative
from safemigrate.core.results import CheckReport, Difference, ReviewReport, _Serialisable
from safemigrate.guard.enforce.autogen import Withheld
from safemigrate.guard.lint import LintReport
from safemigrate.harness.requests import GenerateRequest
from safemigrate.harness.workspace import Workspace
from safemigrate.schema.compare import revision_message

SKIP_CI = "[skip ci]"

# outcomes; the first three are successes
IN_SYNC = "in-sync"
COMMITTED = "committed"
PUSHED = "pushed"
BLOCKED = "blocked"  # the history has several heads: a person must merge them
DESTRUCTIVE = "destructive"  # the fix would drop or narrow something
NOT_GENERATED = "not-generated"  # autogenerate produced nothing for the drift
STILL_DIFFERS = "still-differs"  # the generated revision does not make the models match
LINT_FAILED = "lint-failed"
PUSH_FAILED = "push-failed"


@dataclass
class AutofixReport(_Serialisable):
    kind = "ci-autofix"
    outcome: str
    message: str  # one sentence for people
    differences: list[Difference] = field(default_factory=list)
    generated: list[str] = field(default_factory=list)  # paths relative to the repository's top folder
    revision: str | None = None
    withheld: list[Withheld] = field(default_factory=list)
    check: CheckReport | None = None  # the check after generating
    lint: LintReport | None = None
    review: ReviewReport | None = None
    commit: str | None = None
    branch: str | None = None
    pushed_to: str | None = None
    author: str | None = None
    fix: str = ""  # what a person should do when the outcome is a failure
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.outcome in {IN_SYNC, COMMITTED, PUSHED}


def autofix(make_project: Callable[[], Workspace], *, push: bool = False, author: Identity | None = None,
            remote: str | None = None) -> AutofixReport:
    """Generate, verify, commit (and push) the revision the models need, if any.

    ``make_project`` builds a fresh :class:`Workspace` (the history is read
    again after the new revision is written).
    """
    project = make_project()
    git = Git.containing(project.settings.root)
    check = check_models(project)
    if check.problems:
        return AutofixReport(BLOCKED, "The migration history needs a person before anything can be generated: "
                             + " ".join(p.message for p in check.problems),
                             differences=check.differences, check=check,
                             fix=" ".join(p.fix for p in check.problems))
    if not check.differences:
        return AutofixReport(IN_SYNC, "The models match the head revision: nothing to fix, no commit.", check=check)

    message = "autofix: " + revision_message(check.differences)
    with project.built("heads", purpose="build the database at head for autogenerate") as (_, session, _):
        generated = session.generate(GenerateRequest(message))
    project.close()
    withheld = generated.withheld
    files = [Path(p).resolve() for p in generated.paths]
    report = AutofixReport(NOT_GENERATED, "", differences=check.differences,
                           generated=[relative(f, git.top) for f in files], withheld=withheld,
                           revision=generated.revisions[0] if generated.revisions else None)
    if withheld:
        _remove(files)
        report.generated = []
        report.outcome = DESTRUCTIVE
        report.message = (f"The models drop or narrow {len(withheld)} thing(s) that hold data; autofix never "
                          "generates a destructive change, so nothing was committed.")
        report.fix = ("Write that revision by hand with an explicit sign-off for each change, e.g. "
                      + "; ".join(f"with allow({w.finding.rule!r}, {w.finding.target!r}, reason='...'): {w.code}"
                                  for w in withheld)
                      + " (see `safemigrate lint`), or put the column back in the models.")
        return report
    if not files:
        report.message = "The models differ from head but Alembic's autogenerate produced no operation for it."
        report.fix = "Write the revision by hand (`safemigrate check` lists each difference with its DDL)."
        return report

    fresh = make_project()  # reads the history again, with the new revision
    report.check = check_models(fresh)
    report.lint = lint_revisions(fresh, report.revision)
    if not report.check.ok:
        _remove(files)
        report.outcome, report.generated = STILL_DIFFERS, []
        report.message = "The generated revision does not make the models match head; nothing was committed."
        report.fix = "Write the revision by hand; `safemigrate check` shows what still differs."
        return report
    if not report.lint.ok:
        _remove(files)
        report.outcome, report.generated = LINT_FAILED, []
        report.message = (f"The generated revision has {len(report.lint.blocking)} blocking lint finding(s); "
                          "nothing was committed.")
        report.fix = "Write the revision by hand following the safe alternatives shown, then commit it."
        return report
    report.review = review_sql(fresh, report.revision)

    identity = author or git.configured_identity() or GITHUB_ACTIONS_BOT
    report.author = str(identity)
    env = identity_env(identity, committer=author is not None or git.configured_identity() is None)
    paths = report.generated
    git.run("add", "--", *paths)
    body = "\n".join(f"- {d.description}" for d in check.differences)
    git.run("commit", "-m", f"{message} {SKIP_CI}", "-m",
            f"Generated by `safemigrate ci autofix` for model changes merged without a migration:\n{body}",
            "--", *paths, env=env)
    report.commit = git.out("rev-parse", "HEAD")
    report.outcome = COMMITTED
    report.message = f"Committed revision {report.revision} ({', '.join(paths)}) as {report.commit[:12]}."
    if push:
        _push(git, report, remote, make_project, env)
    return report


def _push(git: Git, report: AutofixReport, remote: str | None, make_project: Callable[[], Workspace],
          env: dict[str, str]) -> None:
    branch = git.branch() or os.environ.get("GITHUB_REF_NAME")
    if not branch:
        raise GitError("The checkout is not on a branch (detached HEAD), so there is nowhere to push.",
                       "autofix pushes its commit to the branch it runs on.",
                       "Check out the branch first (`git checkout main`), or set GITHUB_REF_NAME.")
    remote = remote or git.run("config", f"branch.{branch}.remote", check=False).stdout.strip() or "origin"
    report.branch = branch
    refspec = f"HEAD:refs/heads/{branch}"
    first = git.run("push", remote, refspec, check=False)
    if first.returncode == 0:
        report.outcome, report.pushed_to = PUSHED, f"{remote}/{branch}"
        report.message += f" Pushed to {remote}/{branch}."
        return
    if not _rejected(first):
        _push_failed(report, remote, branch, _last(first))
        return
    report.notes.append(f"{remote}/{branch} moved while autofix ran; rebasing the commit on it and retrying once.")
    pulled = git.run("pull", "--rebase", "--autostash", remote, branch, check=False, env=env)  # env: the committer
    if pulled.returncode != 0:
        git.run("rebase", "--abort", check=False)
        _push_failed(report, remote, branch, "the rebase on the new commits failed: " + _last(pulled))
        return
    report.commit = git.out("rev-parse", "HEAD")
    after = check_models(make_project())
    if not after.ok:
        _push_failed(report, remote, branch,
                     "after rebasing on the new commits the history no longer matches the models "
                     f"({'; '.join([p.message for p in after.problems] + [d.description for d in after.differences])})")
        return
    second = git.run("push", remote, refspec, check=False)
    if second.returncode != 0:
        _push_failed(report, remote, branch, f"{remote}/{branch} moved again: {_last(second)}")
        return
    report.outcome, report.pushed_to = PUSHED, f"{remote}/{branch}"
    report.message += f" Rebased on the new commits and pushed to {remote}/{branch} as {report.commit[:12]}."


def _push_failed(report: AutofixReport, remote: str, branch: str, why: str) -> None:
    report.outcome = PUSH_FAILED
    report.message = (f"The revision was committed here ({(report.commit or '')[:12]}) but not pushed to "
                      f"{remote}/{branch}: {why}.")
    report.fix = (f"Run the autofix again on the new {branch} (re-run the workflow): it starts from the current "
                  f"{branch} and generates the revision afresh. If {branch} is protected, let the workflow's token "
                  "push to it or open a pull request with the revision instead.")


def _rejected(result) -> bool:
    text = (result.stderr or "") + (result.stdout or "")
    return any(word in text for word in ("rejected", "non-fast-forward", "fetch first"))


def _last(result) -> str:
    lines = [line for line in (result.stderr or result.stdout or "").strip().splitlines() if line.strip()]
    return lines[-1].strip() if lines else f"exit status {result.returncode}"


def _remove(files: list[Path]) -> None:
    for file in files:
        file.unlink(missing_ok=True)

