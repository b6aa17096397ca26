"""``check --live`` and ``status``: the live database vs. the models and vs. the revision it claims."""

from __future__ import annotations

from typing import Any

from alembic.runtime.migration import MigrationContext
from sqlalchemy import MetaData, create_engine, pool
from sqlalchemy.engine import URL

from safemigrate.checks.check import head_problems
from safemigrate.core.results import Difference, LiveReport, Problem, StatusReport
from safemigrate.core.secrets import mask_url
from safemigrate.core.urls import backend_of, sync_url, with_driver_of
from safemigrate.harness.envpy import EnvRun, ensure_reachable, run_env
from safemigrate.harness.scratch import scratch_database
from safemigrate.harness.workspace import Workspace
from safemigrate.schema import compare as drift


def read_live(ws: Workspace, dialect: str) -> EnvRun:
    url = ws.require_live()
    ensure_reachable(url)

    def inspect(context: MigrationContext) -> dict[str, Any]:
        heads = list(context.get_current_heads())
        return {"heads": heads, "versus_models": ws.comparison(dialect)(context)}

    return run_env(ws.alembic, url, inspect=inspect, mutate=False, purpose="read the live database")


def revision_problems(ws: Workspace, db_heads: list[str]) -> tuple[list[Problem], list[str]]:
    problems = head_problems(ws)
    unknown = [h for h in db_heads if not ws.alembic.known(h)]
    if unknown:
        problems.append(Problem(
            "unknown_revision",
            f"The database is at revision {', '.join(unknown)}, which this code does not have: the database was "
            "migrated by newer code (it is ahead), or that revision file was deleted or renamed.",
            "Deploy the code that contains that revision, or restore the missing file. Do not run migrations "
            "from this code against this database.",
        ))
        return problems, []
    pending = ws.alembic.pending(db_heads)
    if pending:
        problems.append(Problem(
            "database_behind",
            f"The database is behind the code: {len(pending)} revision(s) not applied "
            f"({', '.join(pending[:5])}{', ...' if len(pending) > 5 else ''}).",
            "Apply them with `safemigrate migrate` (or `alembic upgrade head`).",
        ))
    return problems, pending


def check_live(ws: Workspace) -> LiveReport:
    """The live database against the models and against the revision it claims."""
    url = ws.require_live()
    dialect = ws.dialect_override or backend_of(url)
    live = read_live(ws, dialect)
    db_heads = live.inspected["heads"]
    problems, pending = revision_problems(ws, db_heads)
    notes: list[str] = []
    out_of_band: list[Difference] = []
    if db_heads and not any(p.code == "unknown_revision" for p in problems):
        out_of_band = out_of_band_changes(ws, url, db_heads, live.options, dialect, notes)
    elif not db_heads:
        notes.append("The database has no Alembic revision recorded, so there is no revision to compare it with.")
    return LiveReport(
        database=mask_url(url), dialect=dialect, database_heads=db_heads, code_heads=list(ws.alembic.heads),
        pending=pending, problems=problems, versus_models=live.inspected["versus_models"],
        out_of_band=out_of_band, notes=notes,
    )


def out_of_band_changes(ws: Workspace, url: URL, db_heads: list[str], options: dict[str, Any], dialect: str,
                 notes: list[str]) -> list[Difference]:
    scratch_backend = ws.scratch_backend
    if scratch_backend != backend_of(url):
        notes.append(
            f"Out-of-band changes were not checked: the live database is {backend_of(url)} and the throwaway "
            f"database would be {scratch_backend}, whose schemas cannot be compared exactly. Pass --scratch-url "
            f"(or set scratch_url) to a {backend_of(url)} server where safemigrate may create databases."
        )
        return []
    version_table = options.get("version_table", "alembic_version")
    version_schema = options.get("version_table_schema")
    models = ws.metadata_for(options)
    reflected: MetaData | None = None
    with scratch_database(ws.scratch_server) as scratch:
        scratch_url = with_driver_of(scratch.url, url)
        for head in db_heads:
            run = run_env(ws.alembic, scratch_url, target=head,
                          inspect=lambda ctx: drift.reflect(ctx.connection, models, version_table, version_schema),
                          purpose=f"rebuild the schema of revision {head}")
            reflected = run.inspected
    assert reflected is not None
    label = f"revision {', '.join(db_heads)}"
    engine = create_engine(sync_url(url), poolclass=pool.NullPool)
    try:
        with engine.connect() as conn:
            opts = {**options, "target_metadata": reflected}
            ctx = drift.comparison_context(conn, opts, compare_server_default=ws.settings.compare_server_default)
            return drift.compare(ctx, reflected, dialect, reference=label)
    finally:
        engine.dispose()


def status(ws: Workspace) -> StatusReport:
    """Environment, revisions, pending work and a one-line drift verdict."""
    env = ws.environment
    code_heads = list(ws.alembic.heads)
    url, source = (ws.database_url, ws.database_source)
    if url is None:
        return StatusReport(
            environment=env.describe(), environment_assumed=env.assumed, database=None, database_source="",
            database_heads=None, code_heads=code_heads, pending=[], problems=head_problems(ws),
            drift=f"unknown: no database configured (set {ws.settings.database_url_env})", differences=0,
        )
    live = read_live(ws, ws.dialect_override or backend_of(url))
    db_heads = live.inspected["heads"]
    problems, pending = revision_problems(ws, db_heads)
    differences = live.inspected["versus_models"]
    if any(p.code == "unknown_revision" for p in problems):
        verdict = "unknown revision: the database is ahead of this code or a revision file is missing"
    elif pending:
        verdict = f"behind: {len(pending)} pending revision(s); the models are compared after `migrate`"
    elif differences:
        verdict = (f"drift: {len(differences)} difference(s) between the database and the models "
                   "(details: safemigrate check --live)")
    else:
        verdict = "in sync: the database is at head and matches the models"
    return StatusReport(
        environment=env.describe(), environment_assumed=env.assumed, database=mask_url(url),
        database_source=source, database_heads=db_heads, code_heads=code_heads, pending=pending,
        problems=problems, drift=verdict, differences=0 if pending else len(differences),
    )
