"""``migrate --phase expand|contract`` and the default: a change written with both revisions pending (#14).

The change is written without ``--contract-later``: its expand and its contract
revision are committed together, and each deploy applies what its phase
allows. Production migrate on PostgreSQL, with the throwaway builds on the
same server; a small table (the data path is tested in test_changes.py).
"""

from __future__ import annotations

import pytest
from conftest import configure_backup, run_safemigrate
from helpers import execute, scalar, upgrade
from test_changes import MODELS_AFTER, MODELS_DEPLOY_1, MODELS_DEPLOY_2, NAME, _columns_of, accounts_project

from safemigrate.api import Project
from safemigrate.changes import backfill, status, write_change
from safemigrate.runner.phases import MODELS_AT_STOP

pytestmark = pytest.mark.postgres

ROWS = 2_000


@pytest.fixture
def small(tmp_path, pg_url):
    """The accounts project at 0001 with ROWS users, a backup destination, and a rename written with both
    revisions pending."""
    project = accounts_project(tmp_path / "accounts_app")
    upgrade(project, pg_url, "0001")
    execute(pg_url, f"INSERT INTO users (id, email) SELECT g, 'u' || g || '@example.com' "
                    f"FROM generate_series(1, {ROWS}) g")
    configure_backup(project, url=str(tmp_path / "backups"))
    written = write_change(Project.from_pyproject(project, database_url=pg_url), "rename-column", "users", "email",
                           new_column="email_address")
    assert written.contract_revision is not None
    return project, written.expand_revision, written.contract_revision


def _production(project, pg_url, pg_server, models: str, **options):
    (project / "accounts" / "models.py").write_text(models)
    return Project.from_pyproject(project, database_url=pg_url, scratch_url=pg_server,
                                  environment="production").migrate(**options)


def _failed(report) -> list[tuple[str, str]]:
    return [(c.name, c.message) for c in report.checks if not c.ok]


def _version(url: str) -> str:
    return scalar(url, "SELECT version_num FROM alembic_version")


def test_phase_expand_then_phase_contract(small, pg_url, pg_server):
    project, expand, contract = small
    report = _production(project, pg_url, pg_server, MODELS_DEPLOY_1, phase="expand")
    assert report.ok, _failed(report)
    assert [a.revision for a in report.applied] == [expand] and report.held == [contract]
    models = next(c for c in report.checks if c.name == MODELS_AT_STOP)
    assert models.message.startswith(f"the models equal the schema at {expand}, where this run stops")
    assert any(n.startswith(f"Held back, for a later deploy: contract revision(s) {contract} (--phase expand)")
               for n in report.notes), report.notes
    assert _version(pg_url) == expand and report.verified

    # the contract phase before the backfill: refused, nothing applied
    refused = _production(project, pg_url, pg_server, MODELS_AFTER, phase="contract")
    assert [name for name, _ in _failed(refused)] == ["contracts backfilled"], _failed(refused)
    assert _version(pg_url) == expand

    assert backfill(Project.from_pyproject(project, database_url=pg_url), NAME).verified
    report = _production(project, pg_url, pg_server, MODELS_AFTER, phase="contract")
    assert report.ok, _failed(report)
    assert [a.revision for a in report.applied] == [contract] and report.held == []
    assert scalar(pg_url, "SELECT count(*) FROM users WHERE email_address = 'u' || id || '@example.com'") == ROWS
    assert status(Project.from_pyproject(project, database_url=pg_url)).changes[0].phase == "contracted"


def test_phase_expand_judges_the_models_where_it_stops(small, pg_url, pg_server):
    """The contract's models with --phase expand: refused before anything runs, the differences named."""
    project, expand, contract = small
    report = _production(project, pg_url, pg_server, MODELS_AFTER, phase="expand")
    failed = _failed(report)
    assert [name for name, _ in failed] == [MODELS_AT_STOP], failed
    assert failed[0][1].startswith(f"This run stops at {expand}, before the contract revision(s) {contract} "
                                   "(--phase expand); the models differ from the schema there:"), failed[0][1]
    assert "email" in failed[0][1]
    assert report.applied == [] and _version(pg_url) == "0001"


def test_phase_contract_with_its_expand_pending_is_refused(small, pg_url, pg_server):
    project, expand, contract = small
    report = _production(project, pg_url, pg_server, MODELS_AFTER, phase="contract")
    failed = _failed(report)
    assert [name for name, _ in failed] == ["contracts backfilled"], failed
    assert f"{contract} (change {NAME}, phase planned)" in failed[0][1]
    fix = next(c.fix for c in report.checks if c.name == "contracts backfilled")
    assert fix.startswith("Deploy the expand revision without its contract revision first (`safemigrate migrate "
                          "--phase expand`"), fix
    assert _version(pg_url) == "0001"


def test_default_applies_what_each_change_allows_through_three_deploys(small, pg_url, pg_server):
    """No --phase: deploy 1 applies the expand and holds the contract; deploy 2 applies nothing; deploy 3 runs
    the contract once the change is backfilled (before: refused by the contract check, not by the models)."""
    project, expand, contract = small
    report = _production(project, pg_url, pg_server, MODELS_DEPLOY_1)
    assert report.ok, _failed(report)
    assert [a.revision for a in report.applied] == [expand] and report.held == [contract]
    assert any(f"{contract} (change {NAME}: its expand revision {expand} is applied by this deploy" in n
               for n in report.notes), report.notes

    report = _production(project, pg_url, pg_server, MODELS_DEPLOY_2)
    assert report.ok, _failed(report)
    assert report.applied == [] and report.held == [contract]
    assert any(f"change {NAME} is expanded, not backfilled: `safemigrate change backfill {NAME}`" in n
               for n in report.notes), report.notes
    assert "Nothing to apply in this deploy: every pending revision is held back (above)." in report.notes

    refused = _production(project, pg_url, pg_server, MODELS_AFTER)  # the contract's code, not backfilled
    assert [name for name, _ in _failed(refused)] == ["contracts backfilled"], _failed(refused)
    assert _version(pg_url) == expand

    assert backfill(Project.from_pyproject(project, database_url=pg_url), NAME).verified
    report = _production(project, pg_url, pg_server, MODELS_AFTER)
    assert report.ok, _failed(report)
    assert [a.revision for a in report.applied] == [contract] and report.held == []
    assert _version(pg_url) == contract


def test_cli_phase_and_a_bad_phase(small, pg_url, pg_server):
    project, expand, contract = small
    (project / "accounts" / "models.py").write_text(MODELS_DEPLOY_1)
    result = run_safemigrate("migrate", "--phase", "expand", "--env", "production", "--database-url", pg_url,
                             "--scratch-url", pg_server, cwd=project)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "phase expand" in result.stdout and f"applied {expand}" in result.stdout
    assert f"contract revision(s) {contract} (--phase expand)" in result.stdout
    bad = run_safemigrate("migrate", "--phase", "both", "--database-url", pg_url, cwd=project)
    assert bad.returncode == 2 and "'both' is not one of 'expand', 'contract'" in bad.stderr
    assert "Traceback" not in bad.stderr


def test_development_holds_a_contract_until_backfilled_and_does_not_autosync_around_it(small, pg_url):
    """Development applies the expand, holds the contract (its change is not backfilled: running it would drop
    the column the new one is not filled from yet), and generates nothing for the difference."""
    project, expand, contract = small
    (project / "accounts" / "models.py").write_text(MODELS_AFTER)
    development = Project.from_pyproject(project, database_url=pg_url, environment="development")
    report = development.migrate()
    assert [a.revision for a in report.applied] == [expand] and report.held == [contract]
    assert report.generated == [] and report.withheld == []
    assert report.remaining_differences and not report.ok  # the models are the contract's: not there yet
    assert backfill(Project.from_pyproject(project, database_url=pg_url), NAME).verified
    report = Project.from_pyproject(project, database_url=pg_url, environment="development").migrate()
    assert report.ok and [a.revision for a in report.applied] == [contract], report


def _revision_after(project, revision: str, down: str, body: str) -> None:
    (project / "migrations" / "versions" / f"{revision}.py").write_text(
        f'"""{revision}"""\nimport sqlalchemy as sa\nfrom alembic import op\n\nrevision = "{revision}"\n'
        f"down_revision = {down!r}\nbranch_labels = None\ndepends_on = None\n\n\ndef upgrade():\n    {body}\n\n\n"
        "def downgrade():\n    pass\n")


PHONE = ('    name: Mapped[str | None] = mapped_column(sa.Text)\n',
         '    name: Mapped[str | None] = mapped_column(sa.Text)\n'
         '    phone: Mapped[str | None] = mapped_column(sa.String(40), nullable=True)\n')


def test_a_revision_written_after_a_held_contract_waits_with_it_and_says_so(small, pg_url, pg_server):
    """Branchy work: a teammate's revision lands after the contract in the history (autogenerate bases it on
    head). Deploy 1 applies the expand and holds the contract and what follows it; the models of that deploy
    (with the new column) are judged where the run stops, and the message names the held revision."""
    project, expand, contract = small
    _revision_after(project, "0100phone", contract,
                    "op.add_column('users', sa.Column('phone', sa.String(40), nullable=True))")
    report = _production(project, pg_url, pg_server, MODELS_DEPLOY_1)
    assert report.ok, _failed(report)
    assert [a.revision for a in report.applied] == [expand] and report.held == [contract, "0100phone"]
    assert _version(pg_url) == expand

    refused = _production(project, pg_url, pg_server, MODELS_DEPLOY_1.replace(*PHONE))
    failed = _failed(refused)
    assert [name for name, _ in failed] == [MODELS_AT_STOP], failed
    assert "phone" in failed[0][1] and contract in failed[0][1]
    assert _version(pg_url) == expand and "phone" not in _columns_of(pg_url)

    assert backfill(Project.from_pyproject(project, database_url=pg_url), NAME).verified
    report = _production(project, pg_url, pg_server, MODELS_AFTER.replace(*PHONE))
    assert report.ok, _failed(report)
    assert [a.revision for a in report.applied] == [contract, "0100phone"] and report.held == []


def test_a_merged_branch_beside_a_held_contract_is_applied_in_the_expand_deploy(small, pg_url, pg_server):
    """A branch made before the change (from 0001) and merged after it: the merge revision depends on the
    contract, so it waits; the branch's own revision is not after the contract and is applied with the expand."""
    project, expand, contract = small
    _revision_after(project, "0200phone", "0001",
                    "op.add_column('users', sa.Column('phone', sa.String(40), nullable=True))")
    _revision_after(project, "0300merge", (contract, "0200phone"), "pass")
    report = _production(project, pg_url, pg_server, MODELS_DEPLOY_1.replace(*PHONE), phase="expand")
    assert report.ok, (_failed(report), report.applied, report.remaining_differences)
    assert sorted(a.revision for a in report.applied) == sorted([expand, "0200phone"])
    assert sorted(report.held) == sorted([contract, "0300merge"])
    assert "phone" in _columns_of(pg_url) and "email_address" in _columns_of(pg_url)

    assert backfill(Project.from_pyproject(project, database_url=pg_url), NAME).verified
    report = _production(project, pg_url, pg_server, MODELS_AFTER.replace(*PHONE), phase="contract")
    assert report.ok, _failed(report)
    assert [a.revision for a in report.applied] == [contract, "0300merge"]
    assert "email" not in _columns_of(pg_url)
