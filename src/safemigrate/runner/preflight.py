"""Production preflight: every check runs, all failures are reported at once, nothing is changed."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from sqlalchemy import text
from sqlalchemy.engine import URL

from safemigrate.checks.check import check as check_models
from safemigrate.checks.lint import lint as lint_revisions
from safemigrate.checks.live import check_live
from safemigrate.checks.review import review as review_sql
from safemigrate.config.settings import duration_ms
from safemigrate.core.db import connected, ensure_reachable
from safemigrate.core.errors import EnvPyError, MigrationFailed, SafemigrateError
from safemigrate.core.results import Check, Difference
from safemigrate.core.urls import backend_of
from safemigrate.guard.analysis.rerun import created_objects, repeated_data_steps
from safemigrate.guard.model import Category
from safemigrate.runner.phases import PhaseRun, decide
from safemigrate.runner.proof import ProofState, reusable
from safemigrate.runner.proof import prepare as prepare_proof
from safemigrate.runner.rehearsal_gate import check_rehearsed
from safemigrate.schema.safe_ops import reruns_converge
from safemigrate.state import changes as change_state
from safemigrate.state import instances, ledger

if TYPE_CHECKING:
    from safemigrate.harness.workspace import Workspace




def _run(name: str, fn: Callable[[], Check]) -> Check:
    try:
        return fn()
    except SafemigrateError as exc:
        return Check(name, False, exc.what, exc.fix)


def preflight(project: Workspace, url: URL, environment: str = "production",
              proof: ProofState | None = None, phases: PhaseRun | None = None) -> list[Check]:
    """Every check of a production run. With ``proof`` (``migrate``), a recorded proof that the live database
    equals its revision's schema is reused when its inputs and the schema are unchanged (runner/proof.py), and
    ``proof`` tells ``migrate`` whether this run's full comparison may be recorded. ``phases`` (``migrate
    --phase``) is filled with the contract revisions this run holds back (runner/phases.py)."""
    checks: list[Check] = []
    proof = proof if proof is not None else ProofState()
    phases = phases if phases is not None else PhaseRun()
    def connected() -> Check:
        ensure_reachable(url)
        return Check("database reachable", True, "connected")

    reachable = _run("database reachable", connected)
    checks.append(reachable)
    checks.append(_run("single head", lambda: _single_head(project)))
    live = None
    if reachable.ok:
        if proof.inputs is None:
            prepare_proof(project, url, proof)
        try:
            live = check_live(project, proven=lambda heads: _proven(proof, url, heads))
        except SafemigrateError as exc:
            checks.append(Check("live database readable", False, exc.what, exc.fix))
    if live is not None:
        unknown = [p for p in live.problems if p.code == "unknown_revision"]
        checks.append(Check("revisions known", not unknown,
                            unknown[0].message if unknown else
                            f"database at {', '.join(live.database_heads) or '(no revision yet)'}",
                            unknown[0].fix if unknown else ""))
        checks.append(_run("applied files unchanged", lambda: _unchanged(project, url, live.database_heads)))
        checks.append(_run("ledger intact", lambda: _ledger_intact(url)))
        finishing: list[ledger.Interrupted] = []
        broken_off = _run("no interrupted revision", lambda: _not_interrupted(project, url, live.pending, finishing))
        checks.append(broken_off)
        invalid = {index.rsplit(".", 1)[-1].lower() for index, _ in invalid_indexes(url)}
        left = objects_created_by(project, [f.revision for f in finishing]) if finishing else set()
        checks.append(_out_of_band(live, invalid, interrupted=not broken_off.ok, left_by_rerun=left))
        checks.append(_run("no invalid indexes", lambda: _invalid_indexes(project, url, live.pending)))
        checks.append(_run("contracts backfilled", lambda: _contracts_backfilled(project, url, decide(
            project, url, live.pending, live.database_heads, environment, phases).applies(live.pending))))
        checks.append(_run("rehearsed", lambda: check_rehearsed(project, url, phases.applies(live.pending))))
    if phases.models is not None:  # the run stops before a contract: the models describe the schema there
        checks.append(phases.models)
    elif live is not None and proof.reused is not None and not live.pending and not live.versus_models:
        checks.append(Check("models match head", True, "the database is at head, equal to head's schema "
                            "(proven as above) and to the models"))
    else:
        checks.append(_run("models match head", lambda: _models_match(project)))
    proof.versus_models = [d.description for d in live.versus_models] if live is not None else None
    compared = [c for c in checks if c.name in {"no out-of-band changes", "models match head"}]
    proof.compared = live is not None and proof.reused is None and not live.pending and len(compared) == 2 \
        and all(c.ok for c in compared) and not any(n.startswith("Out-of-band changes were not checked")
                                                    for n in live.notes)
    checks.append(_run("pending revisions pass the guard",
                       lambda: _guard(project, live.pending if live is not None else None)))
    checks.append(_run("verified backup", lambda: _backup_policy(project, environment)))
    return checks


PROVEN = "Compared with the schema of revision"


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)  # SQLite: naive UTC


def _proven(proof: ProofState, url: URL, heads: list[str]) -> str | None:
    found = reusable(proof, url, heads)
    if found is None:
        return None
    return (f"{PROVEN} {', '.join(heads)} on {_utc(found.proven_at):%Y-%m-%d %H:%M} UTC; "
            "the revision files, env.py and the live schema are byte-identical since, so that comparison holds "
            "and nothing was rebuilt.")


def _contracts_backfilled(project: Workspace, url: URL, pending: list[str]) -> Check:
    """An expand–contract change's contract revision runs only once its backfill is verified (state/changes.py)."""
    name = "contracts backfilled"
    plans = change_state.load_plans(project.layout.script_location)
    if not any(p.contract_revision in pending for p in plans.values()):
        return Check(name, True, "no pending contract revision of an expand–contract change")
    ttl = duration_ms(project.settings.instance_ttl, "instance_ttl")
    with connected(url) as conn:
        waiting = change_state.contracts_not_ready(conn, plans, pending)
        old_code = {p.name: instances.using_old_shape(conn, p.name, ttl)
                    for p in plans.values() if p.contract_revision in pending}
    old_code = {change: seen for change, seen in old_code.items() if seen}
    if not waiting and old_code:
        listed = "; ".join(f"change {change}: " + ", ".join(i.describe() for i in seen)
                           for change, seen in old_code.items())
        return Check(name, False, "Contract revision(s) would drop a shape that running instances of the "
                     f"application still use (their start-up guard said so within instance_ttl = "
                     f"{project.settings.instance_ttl}): {listed}. They would fail on their next query.",
                     "Deploy the code whose models no longer use the old shape to every instance first (each "
                     "records itself when it calls require_current_schema), then migrate again; an instance that "
                     "is gone stops counting after instance_ttl.")
    if not waiting:
        return Check(name, True, "every pending contract revision's change is backfilled and verified, and no "
                     "running instance seen within instance_ttl uses the old shape")
    listed = "; ".join(f"{p.contract_revision} (change {p.name}, phase {phase})" for p, phase in waiting)
    commands = " then ".join(f"`safemigrate change backfill {p.name}`" for p, _ in waiting)
    fix = (f"Run {commands} (it resumes and verifies), deploy the model that uses the new shape, then migrate "
           "again; `safemigrate change status` shows each change's phase.")
    if any(phase == change_state.PLANNED for _, phase in waiting):
        fix = ("Deploy the expand revision without its contract revision first (`safemigrate migrate --phase "
               "expand`, or plain `safemigrate migrate` with the models of that deploy); then " + fix[0].lower()
               + fix[1:])
    if any(phase == change_state.ABORTED for _, phase in waiting):
        fix = "An aborted change's contract revision never runs: delete its file. " + fix
    return Check(name, False, f"Contract revision(s) would drop the old shape before the new one holds every row: "
                 f"{listed}. Applications reading the new shape would find it empty for the rows not copied yet.", fix)


def _backup_policy(project: Workspace, environment: str) -> Check:
    """Whether a backup is required here, and can be taken (it is taken under the lock, before the first revision)."""
    from safemigrate.backup import backup_required, settings_of

    name = "verified backup"
    if not backup_required(project, environment):
        return Check(name, True, f"not required in {environment} ([tool.safemigrate.backup] required_in)")
    settings = settings_of(project)
    if not settings.configured:
        return Check(name, False, f"A verified backup is required before migrating in {environment}, but no backup "
                     "destination is configured.",
                     "Set url = 's3://bucket/folder' (or a local path) under [tool.safemigrate.backup]; or, if "
                     f"this environment really needs none, remove {environment} from required_in.")
    return Check(name, True, "one will be taken and verified before the first pending revision")


def _single_head(project: Workspace) -> Check:
    heads = project.history.heads
    if len(heads) == 1:
        return Check("single head", True, f"head {heads[0]}")
    if project.history.labelled_branches():
        return Check("single head", True, f"{len(heads)} named branches: {', '.join(heads)}")
    return Check("single head", False, f"{len(heads)} heads: {', '.join(heads)}",
                 "Merge them: `alembic merge -m \"merge heads\" heads`, review, deploy again.")


def _unchanged(project: Workspace, url: URL, heads: list[str]) -> Check:
    name = "applied files unchanged"
    with connected(url) as conn:
        changed = ledger.changed(conn, project.history.applied_files(heads))
    if not changed:
        return Check(name, True, "every applied revision matches its recorded checksum")
    listed = "; ".join(f"{c.revision} ({c.path})" for c in changed)
    return Check(name, False, f"Applied migration file(s) changed since they were applied: {listed}.",
                 "An applied migration must not change: what ran in production is no longer what the file says. "
                 "Restore the file, or record the change as deliberate: "
                 f"`safemigrate ledger accept {changed[0].revision} --reason '...'`.")


def _ledger_intact(url: URL) -> Check:
    name = "ledger intact"
    with connected(url) as conn:
        problems = ledger.verify(conn)
    if not problems:
        return Check(name, True, "every ledger row follows the one before it")
    return Check(name, False, " ".join(problems),
                 f"The record of what ran here ({ledger.TABLE}) was changed outside safemigrate, so it cannot tell "
                 "which revisions ran and from which files. Find out who changed it and why (compare with a "
                 "backup); when the ledger is right as it stands, record that: "
                 "`safemigrate ledger reseal --reason '...'`.")


def _not_interrupted(project: Workspace, url: URL, pending: list[str],
                     finishing: list[ledger.Interrupted]) -> Check:
    """An interrupted attempt stops the run, unless running its pending revision again finishes it
    (:func:`converges`); those are put in ``finishing``."""
    name = "no interrupted revision"
    with connected(url) as conn:
        found = ledger.interrupted(conn)
    finishing += [item for item in found if item.revision in pending and converges(project, item)]
    blocking = [item for item in found if item not in finishing]
    if blocking:
        return Check(name, False, interrupted_message(blocking), interrupted_fix(blocking))
    if finishing:
        return Check(name, True, "an interrupted attempt of " + ", ".join(f.revision for f in finishing)
                     + " is finished by running it again: it is signed rerun-converges and none of the steps "
                     "that committed changes data a second time")
    return Check(name, True, "no earlier attempt left committed steps behind")


def interrupted_message(found: list[ledger.Interrupted]) -> str:
    return ("An earlier attempt was interrupted after some of its steps had committed: "
            + "; ".join(item.describe() for item in found) + ". Running the revision again would run these "
            "steps twice; the statements after them did not run.")


def interrupted_fix(found: list[ledger.Interrupted]) -> str:
    revision = found[0].revision
    return ("Finish the revision by hand (run the statements after the committed steps, then `alembic stamp "
            f"{revision}`) or undo the committed steps, then record it: `safemigrate ledger resolve {revision} "
            "--reason '...'` and rerun.")


def _out_of_band(live, invalid: set[str], *, interrupted: bool = False,  # live: LiveReport
                 left_by_rerun: set[tuple[str, ...]] | None = None) -> Check:
    name = "no out-of-band changes"
    # INVALID indexes (an interrupted CONCURRENTLY build) are the invalid-index check's business
    changes = [d for d in live.out_of_band if not (d.kind == "remove_index" and (d.object or "").lower() in invalid)]
    # what the committed steps of an interrupted revision that its rerun finishes created
    finished = [d for d in changes if _left_by(d, left_by_rerun or set())]
    changes = [d for d in changes if d not in finished]
    if changes and interrupted:
        items = "; ".join(d.description for d in changes)
        return Check(name, False, f"The database differs from revision {', '.join(live.database_heads)}: {items}. "
                     "These are likely the committed steps of the interrupted revision (see above).",
                     "Resolve the interrupted revision first.")
    if changes:
        items = "; ".join(d.description for d in changes)
        return Check(name, False, f"The database differs from revision {', '.join(live.database_heads)}: {items}.",
                     "Someone changed the schema by hand. Bring it back in line (the DDL is in "
                     "`safemigrate check --live`), or write a migration that makes the change on purpose.")
    skipped = [n for n in live.notes if n.startswith("Out-of-band changes were not checked")]
    if skipped:
        if not live.pending and not live.versus_models:
            return Check(name, True, "database at head and equal to the models")
        return Check(name, False, "Could not compare the database with its revision: " + skipped[0],
                     "Set scratch_url (or pass --scratch-url) to a server of the same kind as production.")
    proven = [n for n in live.notes if n.startswith(PROVEN)]
    if finished:
        return Check(name, True, "the database equals what its revision creates, plus what the interrupted "
                     "revision's committed steps made (its rerun finishes it): "
                     + "; ".join(d.description for d in finished))
    return Check(name, True, proven[0] if proven else "the database equals what its revision creates")


def _left_by(difference: Difference, created: set[tuple[str, ...]]) -> bool:
    """Whether a difference from the revision's schema is an object the interrupted revision creates."""
    table, name = (difference.table or "").lower(), (difference.object or "").lower()
    return {"remove_table": ("table", table), "remove_column": ("column", table, name),
            "remove_index": ("index", name), "remove_constraint": ("constraint", name),
            "remove_fk": ("constraint", name), "modify_nullable": ("not_null", table, name),
            }.get(difference.kind) in created


def invalid_indexes(url: URL) -> list[tuple[str, str]]:
    """(index, table) of every INVALID index: what an interrupted CREATE INDEX CONCURRENTLY leaves."""
    if backend_of(url) != "postgresql":
        return []
    with connected(url) as conn:
        return [tuple(r) for r in conn.execute(text(
            "SELECT i.indexrelid::regclass::text, i.indrelid::regclass::text FROM pg_index i "
            "WHERE NOT i.indisvalid")).all()]


def indexes_created_by(project: Workspace, pending: list[str]) -> set[str]:
    """Names of the indexes the pending revisions create (an invalid one of these is ours to rebuild)."""
    return {found[1] for found in objects_created_by(project, pending) if found[0] == "index"}


def objects_created_by(project: Workspace, pending: list[str]) -> set[tuple[str, ...]]:
    """What the pending revisions create (guard.analysis.rerun.created_objects), read from their SQL."""
    if not pending:
        return set()
    span = project.history.span(pending)
    report = None
    if project.scratch_backend == "postgresql":  # PostgreSQL revisions may not run on a SQLite throwaway
        try:
            report = review_sql(project, span)
        except (EnvPyError, MigrationFailed):
            report = None
    if report is None:  # what Alembic's offline mode renders for PostgreSQL
        try:
            report = review_sql(project, span, offline=True, dialect="postgresql")
        except SafemigrateError:
            return set()  # unknown: no INVALID index is taken for ours (a person drops it, as the check says)
    return created_objects([statement.sql for run in report.revisions for statement in run.statements])


def converges(project: Workspace, attempt: ledger.Interrupted) -> bool:
    """Whether running the revision of an interrupted ``attempt`` again finishes it: the revision is signed
    ``# safemigrate: rerun-converges`` and no step the attempt committed (or may have) changes data again
    when it runs again (the signature is a comment anyone can write; the journal says what ran)."""
    record = project.history.get(attempt.revision)
    return record is not None and reruns_converge(record.path) \
        and not repeated_data_steps([*attempt.steps, *attempt.running])


def _invalid_indexes(project: Workspace, url: URL, pending: list[str]) -> Check:
    name = "no invalid indexes"
    if backend_of(url) != "postgresql":
        return Check(name, True, "not applicable")
    rows = invalid_indexes(url)
    if not rows:
        return Check(name, True, "none")
    ours = indexes_created_by(project, pending)
    foreign = [(index, table) for index, table in rows if index.rsplit(".", 1)[-1].lower() not in ours]
    if not foreign:
        return Check(name, True, "invalid index(es) left by an interrupted run of a pending revision will be "
                     "dropped and built again: " + ", ".join(index for index, _ in rows))
    rows = foreign
    listed = ", ".join(f"{index} on {table}" for index, table in rows)
    return Check(name, False, f"Invalid index(es), left by an interrupted CREATE INDEX CONCURRENTLY: {listed}.",
                 "Drop them and let the revision build them again: "
                 + "; ".join(f"DROP INDEX CONCURRENTLY {index}" for index, _ in rows) + ".")


def _models_match(project: Workspace) -> Check:
    name = "models match head"
    report = check_models(project)
    if report.ok:
        return Check(name, True, f"{report.revisions_applied} revision(s) rebuild exactly the models")
    items = "; ".join([p.message for p in report.problems] + [d.description for d in report.differences])
    return Check(name, False, f"The code is inconsistent: {items}.",
                 "Generate the missing migration (`alembic revision --autogenerate`) and deploy it with the code.")


def _guard(project: Workspace, pending: list[str] | None) -> Check:
    name = "pending revisions pass the guard"
    if pending is None:
        return Check(name, False, "Could not tell which revisions are pending (the database was not read).",
                     "Fix the database checks above.")
    if not pending:
        return Check(name, True, "nothing pending")
    lint = lint_revisions(project, project.history.span(pending), trust_start_after=True)
    blocking = lint.blocking  # lint's own policy: what `safemigrate lint` fails on, production refuses
    # and what the run-time guard would refuse although [tool.safemigrate.lint] ignores it: refused here, first
    blocking += [f for f in lint.refused_at_run_time if f not in blocking]
    if not blocking:
        warnings = [f for f in lint.findings if f.signed_off is None]
        message = f"{len(pending)} revision(s); {len(warnings)} lint warning(s)"
        if lint.not_linted:
            message += (f"; not linted: {', '.join(lint.not_linted)} (Alembic's offline mode cannot render them, "
                        "and no throwaway server of the production kind is configured): the run-time guard "
                        "judges each statement they send")
        return Check(name, True, message)
    items = "; ".join(f"{f.revision}: {f.message}" for f in blocking)
    destructive = any(f.category is Category.DESTRUCTIVE for f in blocking)
    what = "Unapproved destructive change(s)" if destructive else "Unapproved lock-taking change(s)"
    return Check(name, False, f"{what}: {items}",
                 f"Sign each off in its migration (`with allow({blocking[0].rule!r}, {blocking[0].target!r}, "
                 "reason='...')`) or change the migration.")
