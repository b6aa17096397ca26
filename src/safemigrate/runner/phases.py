"""``migrate --phase expand|contract``: which pending revisions a deploy applies when expand–contract changes
are pending (#14).

An expand–contract change writes its expand and its contract revision at once
(``safemigrate change``), but they belong to different deploys: the expand
with the code that still uses the old shape, the contract once the change is
backfilled and no running instance uses the old shape. So one history holds
revisions that the same deploy must not all apply, and the models of the
deploy describe the schema *after the expand*, not head.

``--phase expand`` applies the pending revisions except the contract
revisions and whatever is built on them (a later revision based on a
contract, a merge of its branch): the history is applied in order. A branch
beside a contract (made before the change, merged after it) runs with the
expand; the run then stops at several heads, one per branch.
``--phase contract`` applies everything, each contract only if its change
allows it (the preflight's "contracts backfilled" refuses otherwise).
Without ``--phase``, each contract revision whose change does not allow it
yet is held back with what comes after it, and the rest is applied;
except when the models are head's (the code of the contract's deploy), where
the contract is what the deploy needs, so the run goes to head and the
preflight says why the contract may not run yet.

When a run stops before head, the models are compared with the schema where it
stops (a throwaway database upgraded to that revision), not with head.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from safemigrate.config.settings import duration_ms
from safemigrate.core.db import connected
from safemigrate.core.errors import SafemigrateError, UsageError
from safemigrate.core.results import Check
from safemigrate.harness.requests import Reads
from safemigrate.state import changes as change_state
from safemigrate.state import instances

if TYPE_CHECKING:
    from sqlalchemy.engine import URL

    from safemigrate.harness.workspace import Workspace

EXPAND = "expand"
CONTRACT = "contract"
PHASES = (EXPAND, CONTRACT)
#: The name of the preflight check that replaces "models match head" when a run stops before head.
MODELS_AT_STOP = "models match where this run stops"


@dataclass
class PhaseRun:
    """What a run with (or without) ``--phase`` applies, decided once the pending revisions are known."""

    requested: str | None = None  # expand | contract | None (everything each change allows)
    held_contracts: dict[str, str] = field(default_factory=dict)  # contract revision -> why it waits
    held: list[str] = field(default_factory=list)  # every pending revision held back (the contracts and after)
    stop_at: tuple[str, ...] = ()  # where this run stops when it stops before head: one revision per branch
    models: Check | None = None  # the models vs. the schema at stop_at (None: the preflight's head comparison)

    def __post_init__(self) -> None:
        if self.requested is not None and self.requested not in PHASES:
            raise UsageError(f"--phase {self.requested!r} is not a phase.",
                             "A deploy applies the expand revisions or the contract revisions of expand–contract "
                             "changes.", f"Pass --phase {EXPAND} or --phase {CONTRACT}, or leave it out.")

    def applies(self, pending: list[str]) -> list[str]:
        """``pending`` without the revisions held back (the contracts waiting, and what comes after them)."""
        return [revision for revision in pending if revision not in self.held]

    def notes(self) -> list[str]:
        if not self.held_contracts:
            return []
        waiting = "; ".join(f"{revision} ({why})" for revision, why in self.held_contracts.items())
        after = [r for r in self.held if r not in self.held_contracts]
        return [f"Held back, for a later deploy: contract revision(s) {waiting}"
                + (f", and the {len(after)} revision(s) after them ({', '.join(after)})" if after else "")
                + ". The models were compared with the schema where this run stops"
                + (f" ({', '.join(self.stop_at)})" if self.stop_at else "") + "."]


def decide(project: Workspace, url: URL, pending: list[str], database_heads: list[str], environment: str,
           run: PhaseRun, *, compare_models: bool = True) -> PhaseRun:
    """Fill ``run``: which pending contract revisions wait, and (``compare_models``, production) whether the
    models describe the schema where the run stops, or head."""
    run.held_contracts, run.held, run.stop_at, run.models = {}, [], (), None
    plans = {p.contract_revision: p for p in change_state.load_plans(project.layout.script_location).values()
             if p.contract_revision and p.contract_revision in pending}
    if not plans or run.requested == CONTRACT:
        return run
    waiting = _waiting(project, url, list(plans.values()), pending, run.requested)
    if not waiting:
        return run
    held = _with_descendants(project, pending, set(waiting))
    applied = [r for r in pending if r not in held]
    run.held_contracts = {r: waiting[r] for r in pending if r in waiting}
    run.held = [r for r in pending if r in held]
    run.stop_at = _heads_after(project, applied, database_heads)
    if not compare_models:
        return run
    run.models = _models_at(project, run)
    if not run.models.ok and run.requested is None and _models_are_heads(project):
        # the code of the contract's deploy: the contract is what this deploy needs, so the run is judged as
        # one to head (the preflight's "contracts backfilled" says why it may not run yet)
        run.held_contracts, run.held, run.stop_at, run.models = {}, [], (), None
    return run


def _waiting(project: Workspace, url: URL, plans: list[change_state.ChangePlan], pending: list[str],
             requested: str | None) -> dict[str, str]:
    """Contract revision -> why it may not run in this deploy (``--phase expand``: every one)."""
    if requested == EXPAND:
        return {p.contract_revision or "": "--phase expand" for p in plans}
    ttl = duration_ms(project.settings.instance_ttl, "instance_ttl")
    with connected(url) as conn:
        rows = change_state.read_all(conn)
        seen = {p.name: instances.using_old_shape(conn, p.name, ttl) for p in plans}
    waiting: dict[str, str] = {}
    for plan in plans:
        row = rows.get(plan.name)
        why = None
        if plan.expand_revision in pending:
            why = (f"change {plan.name}: its expand revision {plan.expand_revision} is applied by this deploy; "
                   "the contract belongs to a later one")
        elif row is not None and row.phase == change_state.ABORTED:
            why = f"change {plan.name} is aborted: delete the contract revision's file"
        elif plan.needs_backfill and (row is None or row.phase != change_state.BACKFILLED):
            why = (f"change {plan.name} is {row.phase if row else change_state.EXPANDED}, not backfilled: "
                   f"`safemigrate change backfill {plan.name}`")
        elif seen[plan.name]:
            why = (f"change {plan.name}: running instances still use the old shape: "
                   + ", ".join(i.describe() for i in seen[plan.name]))
        if why is not None:
            waiting[plan.contract_revision or ""] = why
    return waiting


def _with_descendants(project: Workspace, pending: list[str], held: set[str]) -> set[str]:
    """``held`` and every pending revision built on one of them (down_revision or depends_on): the history is
    applied in order, so nothing after a held contract runs before it."""
    found = set(held)
    for revision in pending:  # oldest first
        record = project.history.get(revision)
        if record is not None and {*record.down_revision, *record.depends_on} & found:
            found.add(revision)
    return found


def _heads_after(project: Workspace, applied: list[str], database_heads: list[str]) -> tuple[str, ...]:
    """The revisions the database is at once ``applied`` ran: one per branch. A branch made before a change and
    merged after it runs beside the expand; only the merge waits for the contract."""
    replaced: set[str] = set()
    for revision in applied:
        record = project.history.get(revision)
        if record is not None:
            replaced.update(record.down_revision)
    return tuple(r for r in [*database_heads, *applied] if r not in replaced)


def _models_at(project: Workspace, run: PhaseRun) -> Check:
    """The models vs. a throwaway database upgraded to where the run stops."""
    target = ", ".join(run.stop_at) or "base"
    why = "; ".join(f"{r} ({w})" for r, w in run.held_contracts.items())
    try:
        # several branches: Alembic upgrades to each of them (its revision map takes a tuple of destinations)
        with project.built(run.stop_at if len(run.stop_at) > 1 else target,  # type: ignore[arg-type]
                           Reads(models=project.target_dialect()),
                           purpose=f"build the schema at {target}, where this run stops") as (_, _, built):
            differences = built.differences
            if differences is None:
                raise SafemigrateError(f"Alembic's comparison of the models with the schema at {target} failed: "
                                       f"{built.comparison_error}", "",
                                       "Please report it; `safemigrate check` compares the models with head.")
    except SafemigrateError as exc:
        return Check(MODELS_AT_STOP, False, exc.what, exc.fix)
    if not differences:
        return Check(MODELS_AT_STOP, True, f"the models equal the schema at {target}, where this run stops: the "
                     f"contract revision(s) wait for a later deploy: {why}")
    items = "; ".join(d.description for d in differences)
    return Check(MODELS_AT_STOP, False,
                 f"This run stops at {target}, before the contract revision(s) {why}; the models differ from the "
                 f"schema there: {items}.",
                 "Deploy models that declare both shapes with the expand (the \"Deploy 1\" step in the expand "
                 "revision's docstring; `safemigrate change status` shows each change), or, when these are the "
                 "contract's models, let the contract run: `safemigrate migrate --phase contract` once the change "
                 "is backfilled and no instance uses the old shape.")


def _models_are_heads(project: Workspace) -> bool:
    try:
        return not project.head_build().require_differences()
    except SafemigrateError:
        return False
