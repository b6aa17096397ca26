"""The downgrade path: verified on a throwaway database, gated in production.

``verify_downgrade`` walks the history on one throwaway database. For each
revision it reflects the schema, upgrades, downgrades, compares with the
schema from before (every difference means the downgrade does not restore
it), then upgrades again to check that the revision can be re-applied.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from alembic.runtime.migration import MigrationContext

from safemigrate.core.errors import MigrationFailed, UsageError
from safemigrate.core.results import _Serialisable
from safemigrate.core.secrets import mask_url
from safemigrate.core.urls import with_driver_of
from safemigrate.harness.envpy import run_env
from safemigrate.harness.scratch import scratch_database
from safemigrate.schema import compare as drift

if TYPE_CHECKING:
    from safemigrate.harness.workspace import Workspace


@dataclass
class RoundTrip:
    revision: str
    ok: bool
    stage: str  # "ok" | "upgrade" | "downgrade" | "restore" | "re-upgrade"
    message: str = ""
    differences: list[str] = field(default_factory=list)


@dataclass
class DowngradeReport(_Serialisable):
    kind = "verify-downgrade"
    scratch: str
    revisions: list[RoundTrip]

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.revisions)


def verify_downgrade(project: Workspace, revision_range: str | None = None) -> DowngradeReport:
    chosen = [s.revision for s in project.alembic.in_range(revision_range or "base:heads")]
    ordered = [s.revision for s in project.alembic.in_range("base:heads")]
    wanted = set(chosen)
    results: list[RoundTrip] = []
    with scratch_database(project.scratch_server) as scratch:
        url = with_driver_of(scratch.url, project.database_url)
        dialect = scratch.backend
        for revision in ordered:
            script = project.alembic.get(revision)
            if revision not in wanted or script is None or script.is_merge_point:
                run_env(project.alembic, url, target=revision, purpose=f"upgrade to {revision}")
                continue
            results.append(_round_trip(project, url, revision, dialect))
            if not results[-1].ok and results[-1].stage in {"upgrade", "re-upgrade"}:
                break  # the database is no longer at a known revision: later round trips would be noise
            if results[-1].stage in {"downgrade", "restore"}:
                # continue from a clean state: rebuild up to this revision on the same database
                run_env(project.alembic, url, target=revision, purpose=f"upgrade to {revision}")
    return DowngradeReport(scratch.describe(), results)


def _round_trip(project: Workspace, url: Any, revision: str, dialect: str) -> RoundTrip:
    def snapshot(ctx: MigrationContext) -> Any:
        models = project.metadata_for(ctx.opts)
        return drift.reflect(ctx.connection, models, ctx.opts.get("version_table", "alembic_version"),
                             ctx.opts.get("version_table_schema"))

    before = run_env(project.alembic, url, inspect=snapshot, mutate=False, purpose="read the schema").inspected
    try:
        run_env(project.alembic, url, target=revision, purpose=f"upgrade to {revision}")
    except MigrationFailed as exc:
        return RoundTrip(revision, False, "upgrade", exc.what)

    def compare_with_before(ctx: MigrationContext) -> list[str]:
        opts = {**ctx.opts, "target_metadata": before}
        context = drift.comparison_context(ctx.connection, opts, compare_server_default=False)
        return [d.description for d in drift.compare(context, before, dialect, reference="the schema before it")]

    try:
        down = run_env(project.alembic, url, target="-1", downgrade=True, inspect=compare_with_before,
                       purpose=f"downgrade {revision}")
    except MigrationFailed as exc:
        return RoundTrip(revision, False, "downgrade", exc.what)
    if down.inspected:
        return RoundTrip(revision, False, "restore", "the downgrade does not restore the schema from before "
                         "the revision", list(down.inspected))
    try:
        run_env(project.alembic, url, target=revision, purpose=f"upgrade {revision} again")
    except MigrationFailed as exc:
        return RoundTrip(revision, False, "re-upgrade", exc.what)
    return RoundTrip(revision, True, "ok")


def downgrade(project: Workspace, target: str, *, allow_production: bool = False) -> list[str]:
    """Downgrade the live database to ``target``; production needs ``allow_production``."""
    env = project.environment
    if env.is_production_like and not allow_production:
        raise UsageError(
            f"Refusing to downgrade {mask_url(project.database_url)} in {env.describe()}.",
            "The policy is fix-forward: a downgrade in production usually drops what the revision added, and "
            "its data with it.",
            "Write a new revision that undoes the change. If you really must downgrade, pass "
            "--allow-production-downgrade (and take a backup first).",
        )
    url = project.require_live()
    run = run_env(project.alembic, url, target=target, downgrade=True, purpose=f"downgrade to {target}")
    return [r.revision.revision for r in run.runs]
