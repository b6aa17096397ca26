"""``safemigrate ci check``: everything a pull request's migrations must pass.

Against a base git ref (the branch the pull request goes into):

- the history has one head and the models equal it (``Workspace.check``);
- revisions that exist on the base are unchanged and still there (editing a
  merged migration is an error naming the file);
- the revisions this branch adds attach to the base's head (a branch that
  did not take in a migration that landed meanwhile is told how to re-parent
  or merge);
- the SQL of each new revision, for the production dialect
  (``Workspace.review``), and the lint findings for them (``Workspace.lint``);
- an upgrade/downgrade/upgrade round trip of the new revisions on a
  throwaway database (``verify_downgrade``);
- with ``rehearse=True`` (``--rehearse``), a rehearsal of the new revisions on a
  synthetic copy with ``rows`` from ``[tool.safemigrate.rehearsal]``
  (``safemigrate.rehearsal``): a statement over the configured budgets fails
  the check like a blocking lint finding.

The base's revision files are read from git and parsed, never imported.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from safemigrate.checks.check import check as check_models
from safemigrate.checks.lint import lint as lint_revisions
from safemigrate.checks.review import review as review_sql
from safemigrate.ci import history
from safemigrate.ci.git import Git
from safemigrate.config.settings import load_settings, resolve_scratch_url
from safemigrate.core.errors import EnvPyError, MigrationFailed, UsageError
from safemigrate.core.paths import relative
from safemigrate.core.results import CheckReport, Problem, ReviewReport, _Serialisable
from safemigrate.core.urls import backend_of, parse_url
from safemigrate.guard.lint import LintReport
from safemigrate.harness.workspace import Workspace
from safemigrate.rehearsal.copies import CopySource
from safemigrate.rehearsal.rehearse import rehearse as rehearse_revisions
from safemigrate.rehearsal.results import RehearsalReport
from safemigrate.runner.downgrade import DowngradeReport, verify_downgrade


@dataclass(frozen=True)
class NewRevision:
    revision: str
    down_revision: list[str]
    message: str
    path: str  # relative to the repository's top folder


@dataclass
class CICheckReport(_Serialisable):
    """What ``safemigrate ci check`` found; ``ok`` decides the exit code."""

    kind = "ci-check"
    base: str  # the ref as given
    base_commit: str
    base_heads: list[str]
    heads: list[str]
    new_revisions: list[NewRevision]
    problems: list[Problem]
    check: CheckReport
    review: ReviewReport | None = None
    lint: LintReport | None = None
    round_trip: DowngradeReport | None = None
    rehearsal: RehearsalReport | None = None  # --rehearse
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return (not self.problems and self.check.ok and (self.lint is None or self.lint.ok)
                and (self.round_trip is None or self.round_trip.ok)
                and (self.rehearsal is None or self.rehearsal.ok))

    def to_dict(self) -> dict[str, Any]:
        data = super().to_dict()
        if self.rehearsal is not None:
            data["rehearsal"] = self.rehearsal.to_dict()  # with its verdicts, as `safemigrate rehearse` shows them
        return data


def ci_project(path: str | Path | None = None, *, scratch_url: str | None = None, dialect: str | None = None,
               database_url: str | None = None, verbose: bool = False) -> Workspace:
    """The project, with DDL rendered for the production dialect.

    In CI the live database is not there; a configured ``dialect`` wins, then
    the throwaway server's kind (CI gives a PostgreSQL server with
    --scratch-url), then what ``Workspace`` would choose.
    """
    settings = load_settings(path)
    if dialect is None and settings.dialect is None:
        scratch = resolve_scratch_url(settings, scratch_url)
        if scratch:
            dialect = backend_of(parse_url(scratch))
    return Workspace(settings, scratch_url=scratch_url, dialect=dialect, database_url=database_url,
                     verbose=verbose)


def ci_check(project: Workspace, base: str, *, pg_version: int | None = None,
             rehearse: bool = False) -> CICheckReport:
    """Check the revisions of this checkout against the base ref ``base`` (``rehearse``: and rehearse the new
    revisions on a synthetic copy, see :func:`_rehearse`)."""
    git = Git.containing(project.settings.root)
    base_commit = git.resolve(base)
    if base_commit is None:
        raise UsageError(
            f"There is no git ref {base!r} in {git.top}.",
            "safemigrate ci check compares this branch's migrations with the branch the pull request goes into.",
            "Fetch it first (`git fetch origin main`; in GitHub Actions use actions/checkout with fetch-depth: 0) "
            "and pass it as --base origin/<branch>.",
        )
    prefix = _prefix(project.settings.root, git.top)
    folders = _version_folders(project, git.top)
    base_revs = history.read_tree(git, base_commit, folders)
    fork = git.merge_base(base_commit, "HEAD")
    fork_revs = base_revs if fork in (None, base_commit) else history.read_tree(git, fork, folders)
    branch = _branch_revisions(project, git.top)
    base_heads = history.heads(base_revs)

    problems: list[Problem] = []
    notes: list[str] = []
    if fork is None:
        notes.append(f"{base} and this checkout share no history that git can see (a shallow clone?): revisions "
                     "missing from this branch are all reported as deleted. Use fetch-depth: 0.")
    problems += _changed_revisions(base, base_revs, fork_revs, branch, fork is not None, notes)
    landed = [base_revs[r] for r in base_revs if r not in branch and (fork is not None and r not in fork_revs)]
    order = [s.revision for s in project.history.in_range("base:heads")]
    new = [branch[r] for r in order if r in branch and r not in base_revs]
    heads = list(project.history.heads)
    if landed:
        problems.append(_behind(base, landed, base_heads, new))
    elif new:
        problems += _attachment(project, base, base_revs, base_heads, new, heads)

    check = check_models(project)
    report = CICheckReport(
        base=base, base_commit=base_commit, base_heads=base_heads, heads=heads,
        new_revisions=[NewRevision(r.revision, list(r.down_revision), _message(project, r.revision), r.path)
                       for r in new],
        problems=problems, check=check, notes=notes,
    )
    if rehearse:  # a missing rows setting or server is said before minutes of checks, not after
        _rows_for_rehearsal(project)
        if project.scratch_server is None or backend_of(project.scratch_server) != "postgresql":
            raise UsageError(
                "ci check --rehearse needs a PostgreSQL server for the synthetic copy, and --scratch-url names "
                + ("none." if project.scratch_server is None else "another kind of server."),
                "The new revisions are rehearsed on a throwaway PostgreSQL database filled with generated rows.",
                "Pass --scratch-url postgresql://... (the CI job's PostgreSQL service), or set scratch_url in "
                "[tool.safemigrate].",
            )
    if not new:
        report.notes.append(f"This branch adds no revision compared with {base}.")
        return report
    new_ids = {r.revision for r in new}
    report.review = _review(project, new_ids, check.dialect)
    report.lint = _lint(project, new_ids, prefix, pg_version)
    if any(len(r.down_revision) > 1 for r in new):
        report.notes.append("The upgrade/downgrade round trip was skipped: this branch adds a merge revision, and a "
                            "downgrade step from a merge is ambiguous. Run `safemigrate verify-downgrade` on the "
                            "revisions before the merge if you need it.")
    elif len(heads) == 1 and not landed and not any(p.code == "not_attached" for p in problems):
        report.round_trip = verify_downgrade(project, _round_trip_range(new, heads[0]))
        report.round_trip.revisions = [t for t in report.round_trip.revisions if t.revision in new_ids]
    else:
        report.notes.append("The upgrade/downgrade round trip was skipped: it needs a history with one head that "
                            "follows the base's head. Fix the problems above first.")
    if rehearse:
        report.rehearsal = _rehearse(project, new, heads, report)
    return report


def _rows_for_rehearsal(project: Workspace) -> int:
    rows = project.settings.rehearsal.rows
    if rows is None:
        raise UsageError(
            "ci check --rehearse needs the number of rows of the synthetic copy, and [tool.safemigrate.rehearsal] "
            "has no rows.",
            "The new revisions are rehearsed on a throwaway database filled to that many rows per table; an empty "
            "one would show no stall at all.",
            "Set rows = 1000000 (about the size of your largest table) under [tool.safemigrate.rehearsal], and "
            "budgets such as max_writer_stall = \"200ms\"; pass --scratch-url postgresql://... for the copy.",
        )
    return rows


def _rehearse(project: Workspace, new: list[_BranchFile], heads: list[str],
              report: CICheckReport) -> RehearsalReport | None:
    """The new revisions, rehearsed on a synthetic copy of the schema before them (budgets from the config)."""
    if len(heads) != 1 or any(p.code in {"not_attached", "behind_base"} for p in report.problems):
        report.notes.append("The rehearsal was skipped: it needs a history with one head that follows the base's "
                            "head. Fix the problems above first.")
        return None
    span = _round_trip_range(new, heads[0])
    if span is None:
        report.notes.append("The rehearsal was skipped: the new revisions start from several revisions of the base; "
                            "rehearse them with `safemigrate rehearse REVISION_RANGE --rows N`.")
        return None
    rehearsal = rehearse_revisions(project, span, source=CopySource(rows=_rows_for_rehearsal(project)))
    new_ids = {r.revision for r in new}
    rehearsal.statements = [row for row in rehearsal.statements if row.revision in new_ids]
    return rehearsal


# -- the branch's history compared with the base's -----------------------------
@dataclass(frozen=True)
class _BranchFile:
    revision: str
    down_revision: tuple[str, ...]
    path: str
    content: bytes
    down_line: int | None


def _branch_revisions(project: Workspace, top: Path) -> dict[str, _BranchFile]:
    found: dict[str, _BranchFile] = {}
    for record in project.history.records.values():
        path = Path(record.path).resolve()
        data = path.read_bytes()
        parsed = history.parse_revision(path.name, data)
        found[record.revision] = _BranchFile(
            record.revision, record.down_revision, relative(path, top), history.normalise(data),
            parsed.down_line if parsed else None)
    return found


def _changed_revisions(base: str, base_revs: dict[str, history.RevisionFile],
                       fork_revs: dict[str, history.RevisionFile], branch: dict[str, _BranchFile],
                       know_fork: bool, notes: list[str]) -> list[Problem]:
    problems: list[Problem] = []
    for rev, merged in base_revs.items():
        mine = branch.get(rev)
        if mine is None:
            if know_fork and rev not in fork_revs:
                continue  # landed on the base after this branch started: see _behind
            problems.append(Problem(
                "deleted_revision",
                f"Revision {rev} ({merged.path}) is merged into {base} but this branch deletes it. Databases that "
                "applied it would carry a revision this code does not know, and every later migration would refuse "
                "to run there.",
                f"Restore it (`git checkout {base} -- {merged.path}`). To undo what it did, add a new revision.",
                path=merged.path, line=1,
            ))
            continue
        if mine.content == merged.content:
            continue
        at_fork = fork_revs.get(rev)
        if know_fork and at_fork is not None and at_fork.content == mine.content:
            notes.append(f"Revision {rev} ({merged.path}) was changed on {base} after this branch started; merge "
                         f"{base} into this branch to test against that version.")
            continue
        problems.append(Problem(
            "edited_revision",
            f"{mine.path} edits revision {rev}, which is already merged into {base}. Databases that applied it "
            "will never run the edited version, so they would end up with a different schema than new ones.",
            f"Undo the edit (`git checkout {base} -- {merged.path}`) and make the change in a new revision "
            "(`alembic revision --autogenerate -m \"...\"`).",
            path=mine.path, line=_first_difference(merged.content, mine.content),
        ))
    return problems


def _behind(base: str, landed: list[history.RevisionFile], base_heads: list[str],
            new: list[_BranchFile]) -> Problem:
    names = ", ".join(f"{r.revision} ({r.path})" for r in landed)
    head = base_heads[0] if len(base_heads) == 1 else None
    roots = _roots(new)
    if not roots:
        return Problem(
            "behind_base",
            f"{base} gained revision(s) {names} after this branch started, and this branch does not have them.",
            f"Merge or rebase {base} into this branch (`git merge {base}`).",
        )
    root = roots[0]
    target = f"set down_revision = '{head}' in {root.path}" if head else \
        f"set down_revision in {root.path} to the heads of {base} ({', '.join(base_heads)})"
    return Problem(
        "behind_base",
        f"{base} gained revision(s) {names} after this branch started. This branch's revision {root.revision} "
        f"still follows {', '.join(root.down_revision) or 'base'}, so after the merge the history would have two "
        "heads and `alembic upgrade head` would refuse to run.",
        f"Bring {base} into this branch (`git merge {base}` or `git rebase {base}`), then {target}"
        + (f"; or keep both and join them with `alembic merge -m \"merge heads\" {head} {_tip(new)}`." if head
           else "."),
        path=root.path, line=root.down_line,
    )


def _attachment(project: Workspace, base: str, base_revs: dict[str, history.RevisionFile], base_heads: list[str],
                new: list[_BranchFile], heads: list[str]) -> list[Problem]:
    """The new revisions must continue the base's head(s): one head, every base head an ancestor of it."""
    if len(heads) == 1:
        ancestors = {s.revision for s in project.history.in_range(f"base:{heads[0]}")}
        if all(h in ancestors for h in base_heads):
            return []
    new_ids = {r.revision for r in new}
    stray = [r for r in _roots(new) if any(d not in new_ids and d not in base_heads for d in r.down_revision)
             or (base_heads and not r.down_revision)]
    head = base_heads[0] if len(base_heads) == 1 else None
    problems: list[Problem] = []
    for root in stray or _roots(new)[:1]:
        parent = ", ".join(root.down_revision) or "base"
        target = f"set down_revision = '{head}' in {root.path}" if head else \
            f"set down_revision in {root.path} to the heads of {base} ({', '.join(base_heads)})"
        merge = f"`alembic merge -m \"merge heads\" {' '.join(heads)}`" if len(heads) > 1 else \
            f"`alembic merge -m \"merge heads\" {head or ' '.join(base_heads)} {_tip(new)}`"
        problems.append(Problem(
            "not_attached",
            f"Revision {root.revision} ({root.path}) follows {parent}, but the head of {base} is "
            f"{', '.join(base_heads) or '(none)'}: another migration landed there after this branch started, so "
            f"the history has {len(heads)} heads and `alembic upgrade head` refuses to run.",
            f"Re-parent it: {target}. Or join the heads with {merge}.",
            path=root.path, line=root.down_line,
        ))
    return problems


def _round_trip_range(new: list[_BranchFile], head: str) -> str | None:
    """The smallest range that holds the new revisions: from the one revision they all start from."""
    ids = {r.revision for r in new}
    parents = {d for r in _roots(new) for d in r.down_revision if d not in ids}
    if not parents:
        return f"base:{head}"
    if len(parents) == 1:
        return f"{parents.pop()}:{head}"
    return None  # several starting points: the whole history (only new revisions are reported)


def _roots(new: list[_BranchFile]) -> list[_BranchFile]:
    ids = {r.revision for r in new}
    return [r for r in new if not r.down_revision or any(d not in ids for d in r.down_revision)]


def _tip(new: list[_BranchFile]) -> str:
    parents = {d for r in new for d in r.down_revision}
    tips = [r.revision for r in new if r.revision not in parents]
    return " ".join(tips) or new[-1].revision


# -- SQL, lint ---------------------------------------------------------------
def _review(project: Workspace, new_ids: set[str], dialect: str) -> ReviewReport:
    scratch = project.scratch_server
    scratch_backend = backend_of(scratch) if scratch is not None else "sqlite"
    if dialect != scratch_backend and dialect in {"postgresql", "mysql", "sqlite"}:
        try:
            review = review_sql(project, "base:heads", offline=True, dialect=dialect)
        except (MigrationFailed, EnvPyError) as exc:
            review = review_sql(project, "base:heads")
            review.notes.append(f"Rendering the SQL offline for {dialect} failed ({exc.what}); this is the SQL "
                                f"captured on {review.dialect} instead. Pass --scratch-url to a {dialect} server.")
    else:
        review = review_sql(project, "base:heads")
    review.revisions = [r for r in review.revisions if r.revision.revision in new_ids]
    review.range = "the revisions this branch adds"
    return review


def _lint(project: Workspace, new_ids: set[str], prefix: str, pg_version: int | None) -> LintReport:
    lint = lint_revisions(project, "base:heads", pg_version=pg_version)
    findings = [dataclasses.replace(f, path=_join(prefix, f.path)) for f in lint.findings if f.revision in new_ids]
    return dataclasses.replace(lint, revisions=[r for r in lint.revisions if r in new_ids], findings=findings)


# -- small helpers ---------------------------------------------------------------
def _version_folders(project: Workspace, top: Path) -> list[str]:
    return [relative(folder, top) for folder in project.layout.revision_folders(project.target_dialect())]


def _message(project: Workspace, revision: str) -> str:
    script = project.history.get(revision)
    return project.history.info(script).message if script is not None else ""


def _prefix(root: Path, top: Path) -> str:
    rel = relative(root.resolve(), top)
    return "" if rel == "." else rel


def _join(prefix: str, path: str | None) -> str | None:
    if not path or not prefix or Path(path).is_absolute():
        return path
    return f"{prefix}/{path}"


def _first_difference(old: bytes, new: bytes) -> int:
    old_lines, new_lines = old.split(b"\n"), new.split(b"\n")
    for number, (a, b) in enumerate(zip(old_lines, new_lines, strict=False), 1):
        if a != b:
            return number
    return min(len(old_lines), len(new_lines)) + 1 if len(old_lines) != len(new_lines) else 1


def summary_counts(report: CICheckReport) -> dict[str, Any]:
    """Numbers the renderers show in the summary line."""
    return {
        "new": len(report.new_revisions),
        "problems": len(report.problems) + len(report.check.problems),
        "differences": len(report.check.differences),
        "blocking": len(report.lint.blocking) if report.lint else 0,
        "warnings": len([f for f in report.lint.findings if f.severity.value != "error" and not f.signed_off])
        if report.lint else 0,
        "round_trip_failures": len([t for t in report.round_trip.revisions if not t.ok]) if report.round_trip else 0,
        "over_budget": len([row for row in report.rehearsal.statements if row.verdict != "ok"])
        if report.rehearsal else 0,
    }
