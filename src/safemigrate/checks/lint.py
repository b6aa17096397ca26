"""``safemigrate lint``: the rules over what the revisions send, captured on a throwaway database."""

from __future__ import annotations

from pathlib import Path

from safemigrate.checks.review import baseline_runs, offline_runs_until_failure
from safemigrate.core.errors import MigrationFailed
from safemigrate.core.results import RevisionRun
from safemigrate.guard.lint import LintReport, lint_runs
from safemigrate.harness.envpy import OFFLINE_URLS
from safemigrate.harness.workspace import Workspace


def lint_files(ws: Workspace, paths: list[str], *, pg_version: int | None = None) -> LintReport:
    """Lint the revisions that the revision files ``paths`` define (pre-commit passes the changed files).

    A file that defines no revision of the project (an ``__init__.py``, a helper module, a file of another
    project) is named in the notes and skipped; revisions up to start_after are not linted, as without files.
    """
    by_path = {str(Path(r.path).resolve()): r.revision for r in ws.history.records.values() if r.path}
    wanted: set[str] = set()
    skipped: list[str] = []
    for path in paths:
        revision = by_path.get(str(Path(path).resolve()))
        if revision is None:
            skipped.append(path)
        else:
            wanted.add(revision)
    notes = [f"Not a revision of this project, not linted: {', '.join(skipped)}."] if skipped else []
    if not wanted:
        return LintReport(mode="none", dialect=ws.target_dialect(), pg_version=pg_version or 15, revisions=[],
                          findings=[], notes=notes)
    report = lint(ws, pg_version=pg_version, only=wanted)
    report.notes[:0] = notes
    return report


def lint(ws: Workspace, revision_range: str | None = None, *, pg_version: int | None = None,
         trust_start_after: bool = False, only: set[str] | None = None) -> LintReport:
    """Lint-rule findings for the revisions in ``revision_range`` (default: all after start_after).

    ``trust_start_after``: leave out the revisions up to start_after even when a range is given (the
    production preflight: a new database applies the old history that adopting safemigrate trusted).
    """
    spec = revision_range or "base:heads"
    selected = [r.revision for r in ws.history.in_range(spec) if only is None or r.revision in only]
    notes: list[str] = []
    if ws.settings.start_after and (not revision_range or trust_start_after):
        old = {r.revision for r in ws.history.in_range(f"base:{ws.settings.start_after}")}
        selected = [r for r in selected if r not in old]
        notes.append(f"Revisions up to {ws.settings.start_after} (start_after) are not linted.")
    dialect = ws.target_dialect()
    scratch_backend = ws.scratch_backend
    unlinted: list[str] = []
    version = pg_version or ws.settings.pg_version
    build_failure: MigrationFailed | None = None
    if scratch_backend == dialect:
        mode = "captured"
        try:
            build = ws.head_build()
            covered, not_rendered, baseline_notes = baseline_runs(ws, dialect, selected)
            runs = [*covered, *build.runs]
            notes += baseline_notes
            unlinted.extend(not_rendered)
            if dialect == "postgresql" and version is None:
                version = build.server_version
        except MigrationFailed as build_error:
            # what the revisions sent before the build failed is still linted: a revision that drops the
            # schema its own bookkeeping needs fails the build, and its finding is what matters
            build_failure = build_error
            runs = list(build_error.runs)
            if build_error.revision is not None and ws.history.known(build_error.revision):
                runs.append(RevisionRun(ws.history.info(build_error.revision), list(build_error.statements), 0.0))
            notes.append(f"The throwaway build failed at revision {build_error.revision}: {build_error.what} The "
                         "findings are for the statements the revisions sent up to the failure.")
    else:
        runs, failure = offline_runs_until_failure(ws, dialect if dialect in OFFLINE_URLS else "sqlite")
        mode = "offline"
        notes.append(
            f"The SQL was rendered offline for {dialect} (Alembic's --sql mode) because the throwaway database "
            f"would be {scratch_backend}; pass --scratch-url to a {dialect} server to lint what the revisions "
            "really send (data migrations, op.get_bind())."
        )
        if failure is not None:
            unrendered = [r for r in selected if r not in {run.revision.revision for run in runs}]
            if failure.revision not in selected:
                raise failure
            not_linted = unrendered
            notes.append(
                f"Revision {failure.revision} cannot be rendered offline ({failure.what.split(': ', 1)[-1]}), so "
                f"{len(not_linted)} revision(s) were not linted: {', '.join(not_linted)}. When they run, the "
                "run-time guard judges every statement they send; pass --scratch-url to lint them now."
            )
            unlinted.extend(not_linted)
    version = version or 15
    wanted = set(selected)
    chosen = [r for r in runs if r.revision.revision in wanted]
    declared = {}
    for run_ in chosen:
        record = ws.history.get(run_.revision.revision)
        if record is not None:
            declared[run_.revision.revision] = record.signoffs
    findings = lint_runs(chosen, dialect=dialect, pg_version=version, lock_timeout_set=ws.helper_sets_timeouts(),
                         declared=declared, root=ws.settings.root, settings=ws.settings.lint)
    report = LintReport(mode=mode, dialect=dialect, pg_version=version,
                        revisions=[r.revision.revision for r in chosen], findings=findings, notes=notes,
                        not_linted=unlinted)
    if build_failure is not None and report.ok:
        raise build_failure  # nothing to report but the failure itself
    return report

