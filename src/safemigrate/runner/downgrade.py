"""The downgrade path: verified on a throwaway database, gated in production.

``verify_downgrade`` walks the history on one throwaway database. For each
revision it reflects the schema, upgrades, downgrades, compares with the
schema from before (every difference means the downgrade does not restore
it), then upgrades again to check that the revision can be re-applied.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from safemigrate.core.errors import MigrationFailed, UsageError
from safemigrate.core.results import _Serialisable
from safemigrate.core.secrets import mask_url
from safemigrate.harness.requests import EnvRunRequest, Reads
from safemigrate.harness.session import EnvSession

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
    chosen = [s.revision for s in project.history.in_range(revision_range or "base:heads")]
    ordered = [s.revision for s in project.history.in_range("base:heads")]
    wanted = set(chosen)
    results: list[RoundTrip] = []
    with project.scratch() as (scratch, session):
        for revision in ordered:
            record = project.history.get(revision)
            if revision not in wanted or record is None or record.is_merge:
                session.run(_upgrade(revision, f"upgrade to {revision}"))
                continue
            results.append(_round_trip(session, revision))
            if not results[-1].ok and results[-1].stage in {"upgrade", "re-upgrade"}:
                break  # the database is no longer at a known revision: later round trips would be noise
            if results[-1].stage in {"downgrade", "restore"}:
                # continue from a clean state: rebuild up to this revision on the same database
                session.run(_upgrade(revision, f"upgrade to {revision}"))
    return DowngradeReport(scratch.describe(), results)


def _upgrade(revision: str, purpose: str) -> EnvRunRequest:
    return EnvRunRequest("upgrade", revision, baseline=True, purpose=purpose)


def _round_trip(session: EnvSession, revision: str) -> RoundTrip:
    before = session.run(EnvRunRequest("read", reads=Reads(reflect=True), purpose="read the schema")).reflected
    try:
        session.run(_upgrade(revision, f"upgrade to {revision}"))
    except MigrationFailed as exc:
        return RoundTrip(revision, False, "upgrade", exc.what)
    try:
        down = session.run(EnvRunRequest("downgrade", "-1", Reads(against=before,
                                                                 against_label="the schema before it"),
                                         purpose=f"downgrade {revision}"))
    except MigrationFailed as exc:
        return RoundTrip(revision, False, "downgrade", exc.what)
    if down.against:
        return RoundTrip(revision, False, "restore", "the downgrade does not restore the schema from before "
                         "the revision", [d.description for d in down.against])
    try:
        session.run(_upgrade(revision, f"upgrade {revision} again"))
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
    run = project.session(url).run(EnvRunRequest("downgrade", target, purpose=f"downgrade to {target}"))
    return [r.revision.revision for r in run.runs]
