"""``check --live`` and ``status``: the live database vs. the models and vs. the revision it claims."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from safemigrate.checks.check import head_problems
from safemigrate.core.db import ensure_reachable
from safemigrate.core.errors import EnvPyError, InternalError, MigrationFailed
from safemigrate.core.results import Difference, LiveReport, Problem, StatusReport
from safemigrate.core.secrets import mask_url
from safemigrate.core.urls import backend_of
from safemigrate.harness.requests import EnvRunRequest, EnvRunResult, Reads
from safemigrate.harness.workspace import Workspace


def read_live(ws: Workspace, dialect: str) -> EnvRunResult:
    """The live database's heads and its differences from the models, read through env.py."""
    url = ws.require_live()
    ensure_reachable(url)
    return ws.live().run(EnvRunRequest("read", reads=Reads(heads=True, models=dialect),
                                       purpose="read the live database"))


def live_differences(run: EnvRunResult) -> list[Difference]:
    """The live database vs. the models, or a clear error when Alembic's comparison failed."""
    if run.differences is None:
        raise InternalError(
            f"Alembic's comparison of the models with the live database failed: {run.comparison_error}",
            "safemigrate read the live database but could not compare it with the models; this is a limitation "
            "of safemigrate or Alembic, not a problem of the project.",
            "Please report it with the message and the details.",
            details=run.comparison_traceback,
        )
    return run.differences


def revision_problems(ws: Workspace, db_heads: list[str]) -> tuple[list[Problem], list[str]]:
    problems = head_problems(ws)
    unknown = [h for h in db_heads if not ws.history.known(h)]
    if unknown:
        problems.append(Problem(
            "unknown_revision",
            f"The database is at revision {', '.join(unknown)}, which this code does not have: the database was "
            "migrated by newer code (it is ahead), or that revision file was deleted or renamed.",
            "Deploy the code that contains that revision, or restore the missing file. Do not run migrations "
            "from this code against this database.",
        ))
        return problems, []
    pending = ws.history.pending(db_heads)
    if pending:
        problems.append(Problem(
            "database_behind",
            f"The database is behind the code: {len(pending)} revision(s) not applied "
            f"({', '.join(pending[:5])}{', ...' if len(pending) > 5 else ''}).",
            "Apply them with `safemigrate migrate` (or `alembic upgrade head`).",
        ))
    return problems, pending


def check_live(ws: Workspace, *, against_revision: bool = True,
               proven: Callable[[list[str]], str | None] | None = None) -> LiveReport:
    """The live database against the models and, with ``against_revision``, against the revision it claims
    (a rebuild of that revision's schema on a throwaway database). ``proven`` may answer for the database's
    heads that an earlier comparison still holds (a note saying so): then nothing is rebuilt."""
    url = ws.require_live()
    dialect = ws.dialect_override or backend_of(url)
    live = read_live(ws, dialect)
    db_heads = live.heads or []
    versus_models = live_differences(live)
    problems, pending = revision_problems(ws, db_heads)
    notes: list[str] = []
    out_of_band: list[Difference] = []
    missing: list[Difference] = []
    known = not any(p.code == "unknown_revision" for p in problems)
    proof = proven(db_heads) if proven is not None and against_revision and db_heads and known else None
    if proof is not None:
        notes.append(proof)
    elif against_revision and db_heads and known:
        changed = out_of_band_changes(ws, db_heads, dialect, notes)
        out_of_band, missing = split_missing_migrations(changed, versus_models)
        if missing:
            notes.append(
                f"The live database has {len(missing)} thing(s) the models have but the migrations up to revision "
                f"{', '.join(db_heads)} do not create: it was built from the models (create_all, then "
                "`alembic stamp`), or a migration is missing. Write that migration (autogenerate it against a "
                "database built by the migrations, e.g. `safemigrate check` on a throwaway one); safemigrate "
                "proposes no DDL for these, as it would drop what the models need."
            )
    elif against_revision and not db_heads:
        notes.append("The database has no Alembic revision recorded, so there is no revision to compare it with.")
    return LiveReport(
        database=mask_url(url), dialect=dialect, database_heads=db_heads, code_heads=list(ws.history.heads),
        pending=pending, problems=problems, versus_models=versus_models,
        out_of_band=out_of_band, notes=notes, missing_in_migrations=missing,
    )


def split_missing_migrations(changed: list[Difference],
                             versus_models: list[Difference]) -> tuple[list[Difference], list[Difference]]:
    """(changed by hand, missing in the migrations) among the differences from the revision's schema.

    Where the live database agrees with the models on an object (no difference from the models names
    it), a difference from the revision's rebuild means the migrations lack it, not that someone
    changed the database by hand; its fix is a migration, never the DDL that would undo it.
    """
    disputed = {(d.table, d.object) for d in versus_models} | {(d.table, None) for d in versus_models}
    by_hand: list[Difference] = []
    missing: list[Difference] = []
    for difference in changed:
        if (difference.table, difference.object) in disputed or (difference.table, None) in disputed:
            by_hand.append(difference)
        else:
            missing.append(dataclasses.replace(difference, sql=[], code=""))
    return by_hand, missing


def out_of_band_changes(ws: Workspace, db_heads: list[str], dialect: str, notes: list[str]) -> list[Difference]:
    """What differs between the live schema and what the migrations build up to ``db_heads``."""
    url = ws.require_live()
    if ws.scratch_backend != backend_of(url):
        notes.append(
            f"Out-of-band changes were not checked: the live database is {backend_of(url)} and the throwaway "
            f"database would be {ws.scratch_backend}, whose schemas cannot be compared exactly. Pass --scratch-url "
            f"(or set scratch_url) to a {backend_of(url)} server where safemigrate may create databases."
        )
        return []
    label = f"revision {', '.join(db_heads)}"
    try:
        if sorted(db_heads) == sorted(ws.history.heads):  # at head: the build check and lint share
            reflected = ws.head_build(reflect=True).reflected
        else:
            with ws.scratch() as (_, session):
                rebuilt = None
                for head in db_heads:
                    rebuilt = session.run(EnvRunRequest("upgrade", head, Reads(reflect=True), baseline=True,
                                                        purpose=f"rebuild the schema of revision {head}"))
            reflected = rebuilt.reflected if rebuilt is not None else None
    except (MigrationFailed, EnvPyError) as exc:
        notes.append(f"Out-of-band changes were not checked: rebuilding the schema of {label} on a throwaway "
                     f"database failed ({exc.what.rstrip('.')}).")
        return []
    assert reflected is not None
    compared = ws.live().run(EnvRunRequest("read", reads=Reads(against=reflected, against_label=label),
                                           purpose=f"compare the live database with {label}"))
    return list(compared.against or [])


def status(ws: Workspace) -> StatusReport:
    """Environment, revisions, pending work and a one-line drift verdict."""
    env = ws.environment
    code_heads = list(ws.history.heads)
    url, source = (ws.database_url, ws.database_source)
    if url is None:
        return StatusReport(
            environment=env.describe(), environment_assumed=env.assumed, database=None, database_source="",
            database_heads=None, code_heads=code_heads, pending=[], problems=head_problems(ws),
            drift=f"unknown: no database configured (set {ws.settings.database_url_env})", differences=0,
        )
    live = read_live(ws, ws.dialect_override or backend_of(url))
    db_heads = live.heads or []
    problems, pending = revision_problems(ws, db_heads)
    differences = live.differences or []
    if any(p.code == "unknown_revision" for p in problems):
        verdict = "unknown revision: the database is ahead of this code or a revision file is missing"
    elif pending:
        verdict = f"behind: {len(pending)} pending revision(s); the models are compared after `migrate`"
    elif live.differences is None:
        verdict = f"unknown: the comparison with the models failed ({live.comparison_error})"
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
