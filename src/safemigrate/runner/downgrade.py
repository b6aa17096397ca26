"""The downgrade path: verified on a throwaway database, rehearsed, gated and backed up in production.

``verify_downgrade`` walks the history on one throwaway database. For each
revision it reflects the schema, upgrades, downgrades, compares with the
schema from before (every difference means the downgrade does not restore
it), then upgrades again to check that the revision can be re-applied.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sqlalchemy.engine import URL

from safemigrate.core.db import connected
from safemigrate.core.errors import MigrationFailed, UsageError
from safemigrate.core.results import RevisionRun, _Serialisable
from safemigrate.core.secrets import mask_url
from safemigrate.harness.requests import EnvRunRequest, Reads
from safemigrate.harness.session import EnvSession
from safemigrate.state import ledger

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
        # REV@-1: one step down on this revision's own branch (with several heads applied, "-1" may pick another)
        down = session.run(EnvRunRequest("downgrade", f"{revision}@-1", Reads(against=before,
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


@dataclass
class DowngradeResult(_Serialisable):
    """What ``safemigrate downgrade`` did (or, with --dry-run, would do)."""

    kind = "downgrade"
    environment: str
    database: str
    target: str
    dry_run: bool
    heads_before: list[str] = field(default_factory=list)
    revisions: list[str] = field(default_factory=list)  # undone, in order
    rehearsal: list[RevisionRun] = field(default_factory=list)  # the SQL, captured on a throwaway database
    backup: str | None = None  # the verified backup taken first
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return True


def downgrade(project: Workspace, target: str, *, allow_production: bool = False, dry_run: bool = False,
              lock_wait: float = 600.0) -> DowngradeResult:
    """Downgrade the live database to ``target``, as guarded as migrate.

    Under the migrator lock: the downgrade is first rehearsed on a throwaway database built to the live
    database's revision (its SQL is the result's ``rehearsal``; a downgrade that fails there never reaches
    the live database); with ``dry_run`` nothing else happens. Then, where backups are required (production
    by default), a verified backup is taken; then the live database is downgraded and each revision undone
    gets a ``downgraded`` ledger row naming that backup. Production and staging need ``allow_production``
    (fix-forward is the policy), except for a dry run.
    """
    from safemigrate.backup import backup_required, take_verified_backup
    from safemigrate.core.db import ensure_reachable
    from safemigrate.state.locking import migrator_lock

    env = project.environment
    url = project.require_live()
    if env.is_production_like and not allow_production and not dry_run:
        raise UsageError(
            f"Refusing to downgrade {mask_url(url)} in {env.describe()}.",
            "The policy is fix-forward: a downgrade in production usually drops what the revision added, and "
            "its data with it.",
            "Write a new revision that undoes the change. If you really must downgrade, look at its SQL with "
            "--dry-run, then pass --allow-production-downgrade (a verified backup is taken first).",
        )
    ensure_reachable(url)
    result = DowngradeResult(environment=env.describe(), database=mask_url(url), target=target, dry_run=dry_run)
    with migrator_lock(url, timeout=lock_wait,
                       on_wait=lambda _: result.notes.append("Waited for another migrator to finish.")):
        live = project.session(url)
        result.heads_before = live.run(EnvRunRequest("read", reads=Reads(heads=True),
                                                     purpose="read the database revision")).heads or []
        if not result.heads_before:
            raise UsageError(f"{mask_url(url)} has no revision: there is nothing to downgrade.",
                             "Only a database that Alembic has upgraded can be downgraded.",
                             "Check the database URL.")
        result.rehearsal = _rehearse(project, result.heads_before, target)
        result.revisions = [run.revision.revision for run in result.rehearsal]
        if dry_run or not result.revisions:
            if not result.revisions:
                result.notes.append(f"Nothing to undo: the database is already at {target}.")
            return result
        if backup_required(project, env.name):
            result.backup = take_verified_backup(project, environment=env.name,
                                                 from_rev=",".join(result.heads_before), to_rev=target).id
        run = live.run(EnvRunRequest("downgrade", target, purpose=f"downgrade to {target}"))
        undone = [r.revision.revision for r in run.runs]
        if undone != result.revisions:
            result.notes.append(f"The rehearsal undid {', '.join(result.revisions)}; the live database undid "
                                f"{', '.join(undone) or 'nothing'}.")
        result.revisions = undone
        _record(url, undone, env.name, result.backup, target)
    return result


def _rehearse(project: Workspace, heads: list[str], target: str) -> list[RevisionRun]:
    """The downgrade's SQL, run on a throwaway database at ``heads``: it fails there, or it can run."""
    with project.scratch() as (_, session):
        for head in heads:
            session.run(EnvRunRequest("upgrade", head, baseline=True, purpose=f"build the database at {head}"))
        down = session.run(EnvRunRequest("downgrade", target, purpose=f"rehearse the downgrade to {target}"))
    return list(down.runs)


def _record(url: URL, revisions: list[str], environment: str, backup_id: str | None, target: str) -> None:
    with connected(url, transaction=True) as conn:
        ledger.ensure(conn)
        for revision in revisions:
            ledger.record(conn, revision, "", environment=environment, action="downgraded",
                          backup_id=backup_id, note=f"safemigrate downgrade {target}")
