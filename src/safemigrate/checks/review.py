"""``safemigrate review``: the SQL each revision sends, captured from a real upgrade (or Alembic's offline mode)."""

from __future__ import annotations

from safemigrate.checks.batch_fold import fold_batch_mode
from safemigrate.checks.live import read_live, revision_problems
from safemigrate.core.errors import ConfigError, EnvPyError, MigrationFailed, UsageError
from safemigrate.core.results import ReviewReport, RevisionRun
from safemigrate.harness.envpy import OFFLINE_URLS
from safemigrate.harness.requests import EnvRunRequest
from safemigrate.harness.workspace import Workspace


def review(ws: Workspace, revision_range: str | None = None, *, offline: bool = False,
           dialect: str | None = None) -> ReviewReport:
    """The SQL of each pending (or given) revision."""
    if revision_range:
        wanted = [r.revision for r in ws.history.in_range(revision_range)]
        label = revision_range
    elif ws.database_named is not None:
        live = read_live(ws, ws.target_dialect())
        _, pending = revision_problems(ws, live.heads or [])
        wanted, label = pending, "pending"
    else:
        ws.history.heads  # noqa: B018 - an empty history is an error
        wanted = [r.revision for r in ws.history.in_range("base:heads")]
        label = "base:heads (no database configured: every revision)"
    notes: list[str] = []
    if not wanted:
        return ReviewReport(mode="offline" if offline else "captured", dialect=dialect or ws.target_dialect(),
                            range=label, revisions=[], notes=["Nothing to review: no pending revisions."])
    if offline:
        dialect = dialect or ws.target_dialect()
        if dialect not in OFFLINE_URLS:
            raise UsageError(f"Offline review supports {', '.join(OFFLINE_URLS)}, not {dialect!r}.",
                             "Alembic renders offline SQL through a SQLAlchemy dialect.",
                             "Pass --dialect postgresql, mysql or sqlite.")
        runs = offline_runs(ws, dialect)
        notes.append("Offline mode: SQL rendered by Alembic's --sql mode without a database; migrations that "
                     "read the database cannot be rendered this way.")
    else:
        build = ws.head_build()
        runs, dialect = build.runs, build.backend
        if any(r.revision.revision in set(wanted) for r in runs):
            notes.append(f"Captured from a real upgrade of a {build.scratch}.")
        covered, unrendered, baseline_notes = baseline_runs(ws, dialect, wanted)
        runs, notes = [*covered, *runs], [*notes, *baseline_notes]
        if unrendered:
            notes.append(f"Not shown: {', '.join(unrendered)}.")
    selected = set(wanted)
    chosen: list[RevisionRun] = [r for r in runs if r.revision.revision in selected]
    if dialect == "sqlite":  # batch mode's catalog reads and table copy, one line each (lint sees them all)
        chosen = [fold_batch_mode(r) for r in chosen]
    return ReviewReport(mode="offline" if offline else "captured", dialect=dialect or "",
                        range=label, revisions=chosen, notes=notes)


def offline_runs(ws: Workspace, dialect: str) -> list[RevisionRun]:
    """Every revision's SQL as Alembic's offline (--sql) mode renders it for ``dialect``."""
    request = EnvRunRequest("offline", "heads", dialect=dialect, purpose=f"render the SQL for {dialect} offline")
    return ws.session(None).run(request).runs


def offline_runs_until_failure(ws: Workspace, dialect: str) -> tuple[list[RevisionRun], MigrationFailed | None]:
    """Like :func:`offline_runs`, but a revision offline mode cannot render ends the list instead of failing.

    Offline mode cannot render a migration that reads the database (``op.get_bind().execute(...).scalar()``):
    what rendered before it is returned with the failure.
    """
    try:
        return offline_runs(ws, dialect), None
    except MigrationFailed as exc:
        return list(exc.runs), exc


def baseline_runs(ws: Workspace, dialect: str, wanted: list[str]) -> tuple[list[RevisionRun], list[str], list[str]]:
    """The SQL of the ``wanted`` revisions the baseline stands for, rendered offline (they are never replayed).

    Returns the runs, the revisions offline mode could not render, and a note saying so.
    """
    covered = [r for r in ws.baseline_covered() if r in set(wanted)]
    if not covered:
        return [], [], []
    why_not: str | None = None
    try:
        runs, failure = offline_runs_until_failure(ws, dialect if dialect in OFFLINE_URLS else "sqlite")
    except (EnvPyError, ConfigError) as exc:  # env.py cannot run without a database (it reads the URL's parts)
        runs, failure, why_not = [], None, exc.what.rstrip(".")
    runs = [r for r in runs if r.revision.revision in set(covered)]
    rendered = {r.revision.revision for r in runs}
    unrendered = [r for r in covered if r not in rendered]
    note = (f"{len(covered)} revision(s) up to {ws.settings.baseline_revision} (baseline_revision) are not replayed "
            "on the throwaway database: the baseline builds their result and is stamped there. Their SQL is "
            "what Alembic's offline (--sql) mode renders.")
    if why_not is not None:
        note += (f" Offline mode could not run env.py ({why_not}), so they have no SQL here; when they run, the "
                 "run-time guard judges every statement they send.")
    elif failure is not None and unrendered:
        note += (f" Revision {failure.revision} cannot be rendered offline ({failure.what.split(': ', 1)[-1]}), "
                 f"so {len(unrendered)} of them have no SQL here; when they run, the run-time guard judges "
                 "every statement they send.")
    return runs, unrendered, [note]
