"""``safemigrate lint``: the rules over what the revisions send, captured on a throwaway database."""

from __future__ import annotations

from safemigrate.checks.review import OFFLINE_URLS
from safemigrate.core.urls import parse_url
from safemigrate.guard import signoff
from safemigrate.guard.lint import LintReport, lint_runs
from safemigrate.harness.envpy import run_env
from safemigrate.harness.workspace import Workspace
from safemigrate.project.scripts import uses_helper


def lint(ws: Workspace, revision_range: str | None = None, *, pg_version: int | None = None) -> LintReport:
    """Lint-rule findings for the revisions in ``revision_range`` (default: all after start_after)."""
    spec = revision_range or "base:heads"
    selected = [r.revision for r in ws.alembic.in_range(spec)]
    notes: list[str] = []
    if ws.settings.start_after and not revision_range:
        old = {r.revision for r in ws.alembic.in_range(f"base:{ws.settings.start_after}")}
        selected = [r for r in selected if r not in old]
        notes.append(f"Revisions up to {ws.settings.start_after} (start_after) are not linted.")
    dialect = ws.target_dialect()
    scratch_backend = ws.scratch_backend
    version = pg_version or ws.settings.pg_version
    if scratch_backend == dialect:
        build = ws.head_build()
        runs, mode = build.runs, "captured"
        if dialect == "postgresql" and version is None:
            version = build.server_version
    else:
        run = run_env(ws.alembic, parse_url(OFFLINE_URLS.get(dialect, "sqlite://")), target="heads",
                      offline_dialect=dialect, purpose=f"render the SQL for {dialect}")
        runs, mode = run.runs, "offline"
        notes.append(
            f"The SQL was rendered offline for {dialect} (Alembic's --sql mode) because the throwaway database "
            f"would be {scratch_backend}; pass --scratch-url to a {dialect} server to lint what the revisions "
            "really send (data migrations, op.get_bind())."
        )
    version = version or 15
    wanted = set(selected)
    chosen = [r for r in runs if r.revision.revision in wanted]
    declared = {}
    for run_ in chosen:
        script = ws.alembic.get(run_.revision.revision)
        if script is not None:
            declared[run_.revision.revision] = signoff.declared(vars(script.module))
    findings = lint_runs(chosen, dialect=dialect, pg_version=version, lock_timeout_set=helper_sets_timeouts(ws),
                         declared=declared, root=ws.settings.root)
    return LintReport(mode=mode, dialect=dialect, pg_version=version,
                      revisions=[r.revision.revision for r in chosen], findings=findings, notes=notes)


def helper_sets_timeouts(ws: Workspace) -> bool:
    """True when env.py is safemigrate's helper, which sets lock_timeout on PostgreSQL."""
    return uses_helper(ws.alembic.script_location / "env.py") and ws.settings.lock_timeout not in {"0", ""}
