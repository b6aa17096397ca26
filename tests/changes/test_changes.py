"""Expand–contract changes (`safemigrate change`) on a real PostgreSQL: what each kind writes and does, through
production's preflight and guard; and what the other test files share: the accounts project, its models at
each deploy, and the two application versions (test_two_versions.py, test_backfill_load.py, test_mysql.py).

Every waiting loop waits on what the database or the application threads
report (row counts, checkpoints, operation counters), with a deadline; none
relies on a sleep being long enough.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import sqlalchemy as sa
from conftest import configure_backup, run_safemigrate
from helpers import execute, scaffold, scalar, upgrade
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from safemigrate import changes
from safemigrate.api import Project
from safemigrate.changes import backfill, status, write_change

pytestmark = pytest.mark.postgres

#: users in the tests where two application versions write while a change runs (test_two_versions.py: each
#: change kind on 200,000 rows); the others need rows, not that many, and take SMALL (a test's `rows` marker)
ROWS = 200_000
SMALL = 5_000
NAME = "rename_users_email"

MODELS_BEFORE = '''import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(sa.BigInteger, primary_key=True)
    email: Mapped[str] = mapped_column(sa.String(255))
    name: Mapped[str | None] = mapped_column(sa.Text)
'''

#: Deploys 1 and 2 of the README's worked example: the new column beside the old one, then the old one unmapped.
MODELS_DEPLOY_1 = MODELS_BEFORE.replace(
    'email: Mapped[str] = mapped_column(sa.String(255))',
    'email: Mapped[str] = mapped_column(sa.String(255))\n'
    '    email_address: Mapped[str | None] = mapped_column(sa.String(255), nullable=True)')
MODELS_DEPLOY_2 = MODELS_BEFORE.replace(
    'email: Mapped[str] = mapped_column(sa.String(255))',
    'email: Unmapped[str] = unmapped_column(sa.String(255))\n'
    '    email_address: Mapped[str | None] = mapped_column(sa.String(255), nullable=True)').replace(
    "Mapped, mapped_column", "Mapped, Unmapped, mapped_column, unmapped_column")
#: Deploy 3 of the README's worked example: email is gone, email_address is NOT NULL.
MODELS_AFTER = MODELS_BEFORE.replace('email: Mapped[str] = mapped_column(sa.String(255))',
                                     'email_address: Mapped[str] = mapped_column(sa.String(255))')

FIRST_REVISION = '''"""create users

Revision ID: 0001
"""
import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade():
    op.create_table("users", sa.Column("id", sa.BigInteger, primary_key=True),
                    sa.Column("email", sa.String(255), nullable=False),
                    sa.Column("name", sa.Text, nullable=True))


def downgrade():
    op.drop_table("users")
'''


def accounts_project(root: Path) -> Path:
    """A small project (package accounts): one table, users, created by revision 0001."""
    return scaffold(root, "accounts", MODELS_BEFORE, FIRST_REVISION, metadata="Base.metadata")


@pytest.fixture
def accounts(tmp_path: Path, pg_url: str, request: pytest.FixtureRequest) -> Path:
    return seeded_accounts(tmp_path, pg_url, request)


def seeded_accounts(tmp_path: Path, pg_url: str, request: pytest.FixtureRequest) -> Path:
    """The project at revision 0001 on pg_url, with SMALL users (email u<id>@example.com), or as many as the
    test's ``rows`` marker says."""
    marker = request.node.get_closest_marker("rows")
    rows = marker.args[0] if marker is not None else SMALL
    project = accounts_project(tmp_path / "accounts_app")
    upgrade(project, pg_url, "0001")
    execute(pg_url, f"INSERT INTO users (id, email, name) SELECT g, 'u' || g || '@example.com', 'n' "
                    f"FROM generate_series(1, {rows}) g",
            f"SELECT setval(pg_get_serial_sequence('users', 'id'), {rows})")
    return project


def _project(project: Path, url: str, **options) -> Project:
    return Project.from_pyproject(project, database_url=url, **options)


def wait_until(condition: Callable[[], bool], what: str, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


# -- two application versions ------------------------------------------------------------------------------------

class OldBase(DeclarativeBase):
    pass


class OldUser(OldBase):
    """The application before the change: reads and writes email; knows nothing of email_address."""

    __tablename__ = "users"
    id: Mapped[int] = mapped_column(sa.BigInteger, primary_key=True)
    email: Mapped[str] = mapped_column(sa.String(255))
    name: Mapped[str | None] = mapped_column(sa.Text)


class NewBase(DeclarativeBase):
    pass


class NewUser(NewBase):
    """The application after the change: reads and writes email_address; email is not mapped."""

    __tablename__ = "users"
    id: Mapped[int] = mapped_column(sa.BigInteger, primary_key=True)
    email_address: Mapped[str] = mapped_column(sa.String(255))
    name: Mapped[str | None] = mapped_column(sa.Text)


class App(threading.Thread):
    """One application version: inserts, updates its own share of the old rows, reads back what it wrote."""

    def __init__(self, url: str, new: bool, parity: int, rows: int = ROWS):
        super().__init__(daemon=True)
        self.rows = rows  # the rows before the change, ids 1..rows
        self.engine = sa.create_engine(url, pool_size=2, max_overflow=0)
        self.model = NewUser if new else OldUser
        self.column = "email_address" if new else "email"
        self.tag = "new" if new else "old"
        self.parity = parity  # updates only existing ids of this parity: one writer per row
        self.stop = threading.Event()
        self.ops = 0
        self.errors: list[str] = []
        self.mismatches: list[str] = []
        self.expected: dict[int, str] = {}  # id -> the last value this version wrote
        self.inserted: dict[int, str] = {}  # rows it inserted and never changes: the other version reads them
        self.others: App | None = None
        self.read_old_rows = not new  # the new version reads rows older than the expand once they are backfilled
        self.random = random.Random(parity)

    def run(self) -> None:
        i = 0
        while not self.stop.is_set():
            i += 1
            try:
                self.step(i)
                self.ops += 1
            except Exception as exc:  # every failure is a finding of the test
                self.errors.append(f"{self.tag}: {type(exc).__name__}: {exc}"[:400])
            time.sleep(0.002)
        self.engine.dispose()

    def step(self, i: int) -> None:
        with Session(self.engine) as session, session.begin():
            value = f"{self.tag}-{i}@example.com"
            user = self.model(name=self.tag, **{self.column: value})
            session.add(user)
            session.flush()
            new_id = user.id
            target = self.random.randrange(1, self.rows // 2) * 2 + self.parity
            updated = f"{self.tag}-u{i}@example.com"
            row = session.get(self.model, target)
            assert row is not None, f"row {target} is missing"
            setattr(row, self.column, updated)
        self.inserted[new_id] = value
        self.expected[new_id] = value
        self.expected[target] = updated
        others = self.others
        # the other version's row is chosen before this session's first read: on MariaDB (REPEATABLE READ) the
        # snapshot starts there, and a row the other version committed after it would not be in it
        theirs = self.random.choice(list(others.inserted)) if others is not None and others.inserted else None
        with Session(self.engine) as session:
            for key in (new_id, target):  # read what this version wrote, through its own column
                got = getattr(session.get(self.model, key), self.column)
                if got != self.expected[key]:
                    self.mismatches.append(f"{self.tag} read {key}: {got!r} != {self.expected[key]!r}")
            if self.read_old_rows:  # a row written before the expand, by nobody since: its original value
                key = self.random.randrange(1, self.rows // 2) * 2 + self.parity
                got = getattr(session.get(self.model, key), self.column)
                if key not in self.expected and got != f"u{key}@example.com":
                    self.mismatches.append(f"{self.tag} read {key}: {got!r} is not its original value")
            if others is not None and theirs is not None:
                got = getattr(session.get(self.model, theirs), self.column)
                if got != others.inserted[theirs]:
                    self.mismatches.append(f"{self.tag} read {others.tag}'s {theirs}: {got!r} != "
                                           f"{others.inserted[theirs]!r}")

    def ops_after(self, count: int) -> Callable[[], bool]:
        start = self.ops
        return lambda: self.ops >= start + count or bool(self.errors)


def _revisions(project: Path) -> tuple[str, str]:
    plan = json.loads((project / "migrations" / "safemigrate_changes" / f"{NAME}.json").read_text())
    return plan["expand_revision"], plan["contract_revision"]


def test_the_readme_three_deploys_in_production(accounts, pg_url, pg_server, tmp_path):
    """README, "rename a column in three deploys": production migrate at each deploy, contract refused until
    the backfill is verified."""
    configure_backup(accounts, url=str(tmp_path / "backups"))
    models = accounts / "accounts" / "models.py"

    def production_migrate():
        return _project(accounts, pg_url, scratch_url=pg_server, environment="production").migrate()

    written = write_change(_project(accounts, pg_url), "rename-column", "users", "email", new_column="email_address",
                           contract_later=True)
    expand = written.expand_revision
    models.write_text(MODELS_DEPLOY_1)
    report = production_migrate()  # deploy 1: the guard allows the signed-off trigger, nothing else
    assert report.ok, [(c.name, c.message) for c in report.checks if not c.ok]
    assert [a.revision for a in report.applied] == [expand]
    assert status(_project(accounts, pg_url)).changes[0].phase == "expanded"

    models.write_text(MODELS_DEPLOY_2)  # deploy 2: no migration; the models still match head
    assert production_migrate().ok

    contract = changes.write_contract(_project(accounts, pg_url), NAME).contract_revision
    models.write_text(MODELS_AFTER)  # deploy 3, before the backfill: refused
    report = production_migrate()
    failed = [c for c in report.checks if not c.ok]
    assert [c.name for c in failed] == ["contracts backfilled"], [(c.name, c.message) for c in failed]
    assert failed[0].message == (
        f"Contract revision(s) would drop the old shape before the new one holds every row: {contract} (change "
        f"{NAME}, phase expanded). Applications reading the new shape would find it empty for the rows not "
        "copied yet.")
    assert failed[0].fix.startswith(f"Run `safemigrate change backfill {NAME}` (it resumes and verifies)")
    assert scalar(pg_url, "SELECT version_num FROM alembic_version") == expand  # nothing applied

    assert backfill(_project(accounts, pg_url), NAME).verified
    report = production_migrate()
    assert report.ok, [(c.name, c.message) for c in report.checks if not c.ok]
    assert [a.revision for a in report.applied] == [contract]
    assert scalar(pg_url, "SELECT count(*) FROM users WHERE email_address = 'u' || id || '@example.com'") == SMALL
    assert status(_project(accounts, pg_url)).changes[0].phase == "contracted"


def test_contract_later_status_json_and_abort(accounts, pg_url):
    result = run_safemigrate("change", "rename-column", "users.email", "email_address", "--contract-later",
                             "--database-url", pg_url, cwd=accounts)
    assert result.returncode == 0, result.stderr
    assert "Deploy 2 (after `safemigrate change backfill rename_users_email`)" in result.stdout
    expand = json.loads((accounts / "migrations" / "safemigrate_changes" / f"{NAME}.json").read_text())[
        "expand_revision"]
    listed = run_safemigrate("change", "status", "--format", "json", "--database-url", pg_url, cwd=accounts)
    data = json.loads(listed.stdout)
    assert data["kind"] == "change-status" and data["changes"][0]["phase"] == "planned"
    assert data["changes"][0]["contract_revision"] is None
    upgrade(accounts, pg_url, expand)
    data = json.loads(run_safemigrate("change", "status", "--format", "json", "--database-url", pg_url,
                                      cwd=accounts).stdout)
    assert data["changes"][0]["phase"] == "expanded"
    assert data["changes"][0]["next_step"] == f"`safemigrate change backfill {NAME}`"
    contract = run_safemigrate("change", "contract", NAME, "--database-url", pg_url, cwd=accounts)
    assert contract.returncode == 0, contract.stderr
    text = next(p for p in (accounts / "migrations" / "versions").glob("*contract_rename*.py")).read_text()
    assert f"depends_on: Union[str, Sequence[str], None] = '{expand}'" in text
    assert "allow('drop-column', 'users.email', reason='expand-contract change rename_users_email')" in text
    aborted = run_safemigrate("change", "abort", NAME, "--database-url", pg_url, cwd=accounts)
    assert aborted.returncode == 0 and "is aborted" in aborted.stdout
    again = run_safemigrate("change", "backfill", NAME, "--database-url", pg_url, cwd=accounts)
    assert again.returncode == 2 and "is aborted" in again.stderr and "Traceback" not in again.stderr


def test_drop_column_and_set_not_null(accounts, pg_url):
    execute(pg_url, "UPDATE users SET name = NULL WHERE id % 3 = 0")
    project = _project(accounts, pg_url)
    dropped = write_change(project, "drop-column", "users", "email")
    upgrade(accounts, pg_url, dropped.expand_revision)
    assert scalar(pg_url, "SELECT is_nullable FROM information_schema.columns "
                          "WHERE table_name = 'users' AND column_name = 'email'") == "YES"
    not_null = write_change(_project(accounts, pg_url), "set-not-null", "users", "name", fill="'unknown'")
    upgrade(accounts, pg_url, not_null.expand_revision)
    execute(pg_url, "INSERT INTO users (name) VALUES (NULL)")  # the trigger fills what a writer omits
    report = backfill(_project(accounts, pg_url), not_null.name)
    assert report.verified and report.rows_written == SMALL // 3
    upgrade(accounts, pg_url, "heads")
    columns = {r[0]: r[1] for r in _columns(pg_url)}
    assert columns == {"id": "NO", "name": "NO"}
    assert scalar(pg_url, "SELECT count(*) FROM users WHERE name = 'unknown'") == SMALL // 3 + 1
    phases = {c.name: c.phase for c in status(_project(accounts, pg_url)).changes}
    assert phases == {"drop_users_email": "contracted", "not_null_users_name": "contracted"}


def _columns(url: str) -> list[tuple[str, str]]:
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        found = conn.execute(sa.text("SELECT column_name, is_nullable FROM information_schema.columns "
                                     "WHERE table_name = 'users'")).all()
    engine.dispose()
    return [(r[0], r[1]) for r in found]


@pytest.mark.parametrize("url, words", [  # MySQL/MariaDB: tests/changes/test_mysql.py
    ("sqlite:///app.db", "need PostgreSQL or MySQL/MariaDB; this project's database is sqlite"),
])
def test_other_databases_are_refused_with_what_is_missing(accounts, url, words):
    result = run_safemigrate("change", "rename-column", "users.email", "email_address", "--database-url", url,
                             cwd=accounts)
    assert result.returncode == 2 and words in result.stderr and "Traceback" not in result.stderr
    assert not (accounts / "migrations" / "safemigrate_changes").exists()


def test_bad_input_is_one_message(accounts, pg_url):
    for args, words in ((("rename-column", "users", "x"), "is not TABLE.COLUMN"),
                        (("rename-column", "users.nope", "x"), "has no column users.nope"),
                        (("set-not-null", "users.name"), "needs --fill"),
                        (("set-not-null", "users.name", "--fill", "1; DROP TABLE users"), "is not one SQL value"),
                        (("backfill", "nothing"), "No expand–contract change is named 'nothing'")):
        result = run_safemigrate("change", *args, "--database-url", pg_url, cwd=accounts)
        assert result.returncode == 2 and words in result.stderr, (args, result.stderr)
        assert "Traceback" not in result.stderr


def test_an_unreachable_database_is_exit_3_without_its_password(accounts):
    result = run_safemigrate("change", "status", "--database-url", "postgresql://app:s3cret-pw@127.0.0.1:1/app",
                             cwd=accounts)
    assert result.returncode == 3 and "Could not connect" in result.stderr
    assert "s3cret-pw" not in result.stderr + result.stdout and "Traceback" not in result.stderr


def test_a_rename_carries_the_indexes_the_unique_constraint_and_the_default(accounts, pg_url):
    execute(pg_url, "ALTER TABLE users ADD CONSTRAINT uq_users_email UNIQUE (email)",
            "CREATE INDEX ix_users_name_email ON users (name, email)",
            "ALTER TABLE users ALTER COLUMN email SET DEFAULT 'none'")
    written = write_change(_project(accounts, pg_url), "rename-column", "users", "email", new_column="email_address")
    upgrade(accounts, pg_url, written.expand_revision)
    assert backfill(_project(accounts, pg_url), NAME).verified
    upgrade(accounts, pg_url, "heads")
    indexes = scalar(pg_url, "SELECT string_agg(indexdef, '; ' ORDER BY indexname) FROM pg_indexes "
                             "WHERE tablename = 'users'")
    assert indexes == ("CREATE INDEX ix_users_name_email_address ON public.users USING btree (name, email_address); "
                       "CREATE UNIQUE INDEX uq_users_email_address ON public.users USING btree (email_address); "
                       "CREATE UNIQUE INDEX users_pkey ON public.users USING btree (id)")
    assert scalar(pg_url, "SELECT contype FROM pg_constraint WHERE conname = 'uq_users_email_address'") == "u"
    execute(pg_url, "INSERT INTO users (name) VALUES ('defaulted')")
    assert scalar(pg_url, "SELECT email_address FROM users WHERE name = 'defaulted'") == "none"


def test_what_cannot_be_carried_refuses_the_change_by_name(accounts, pg_url):
    execute(pg_url, "CREATE VIEW user_emails AS SELECT id, email FROM users",
            "CREATE TABLE invitations (id int PRIMARY KEY, email varchar(255))",
            "ALTER TABLE users ADD CONSTRAINT uq_users_email UNIQUE (email)",
            "ALTER TABLE invitations ADD CONSTRAINT fk_invitations_email FOREIGN KEY (email) REFERENCES users (email)")
    renamed = run_safemigrate("change", "rename-column", "users.email", "email_address", "--database-url", pg_url,
                              cwd=accounts)
    assert renamed.returncode == 2, renamed.stderr
    assert ("users.email carries what safemigrate cannot move to the new column yet: foreign key "
            "fk_invitations_email on invitations, view user_emails.") in renamed.stderr
    dropped = run_safemigrate("change", "drop-column", "users.email", "--database-url", pg_url, cwd=accounts)
    assert dropped.returncode == 2
    assert ("users.email cannot be dropped while these depend on it: foreign key fk_invitations_email on "
            "invitations, view user_emails.") in dropped.stderr
    assert not list((accounts / "migrations" / "versions").glob("*_expand_*.py"))


def test_the_backfill_never_rewrites_the_old_column_through_a_lossy_conversion(accounts, pg_url):
    execute(pg_url, "ALTER TABLE users ADD COLUMN score double precision", "UPDATE users SET score = 1.23")
    written = write_change(_project(accounts, pg_url), "change-type", "users", "score", new_column="score_rounded",
                           new_type="numeric(6,1)", using="score::numeric(6,1)",
                           down="score_rounded::double precision")
    upgrade(accounts, pg_url, written.expand_revision)
    assert backfill(_project(accounts, pg_url), written.name).verified
    # the old version still reads its own values; the new one reads them converted
    assert scalar(pg_url, "SELECT count(*) FROM users WHERE score = 1.23 AND score_rounded = 1.2") == SMALL
    execute(pg_url, "UPDATE users SET score_rounded = 7.5 WHERE id = 1", "UPDATE users SET score = 2.26 WHERE id = 2")
    assert scalar(pg_url, "SELECT score || '/' || score_rounded FROM users WHERE id = 1") == "7.5/7.5"
    assert scalar(pg_url, "SELECT score || '/' || score_rounded FROM users WHERE id = 2") == "2.26/2.3"


MEMBER = '''

class Member(Base):
    __tablename__ = "members"

    id: Mapped[int] = mapped_column(sa.BigInteger, primary_key=True)
    email: Mapped[str] = mapped_column(sa.String(255))
    name: Mapped[str | None] = mapped_column(sa.Text)
'''
MODELS_TWO_TABLES = MODELS_BEFORE + MEMBER
MODELS_MEMBERS_ONLY = MODELS_BEFORE.split("\n\nclass User(Base):")[0] + "\n" + MEMBER


@pytest.mark.parametrize("kind", ["rename-table", "change-type", "set-not-null", "drop-column"])
def test_production_migrate_applies_each_kind_under_the_guard(accounts, pg_url, pg_server, tmp_path, kind):
    """The expand and the contract of every kind pass production's preflight and run-time guard."""
    configure_backup(accounts, url=str(tmp_path / "backups"))
    models = accounts / "accounts" / "models.py"
    if kind == "rename-table":
        written = write_change(_project(accounts, pg_url), kind, "users", new_table="members", contract_later=True)
        deploy_1, deploy_3 = MODELS_TWO_TABLES, MODELS_MEMBERS_ONLY
    elif kind == "change-type":
        written = write_change(_project(accounts, pg_url), kind, "users", "name", new_column="short_name",
                               new_type="varchar(100)", using="left(name, 100)", down="short_name::text",
                               contract_later=True)
        deploy_1 = MODELS_BEFORE.replace("name: Mapped[str | None] = mapped_column(sa.Text)",
                                         "name: Mapped[str | None] = mapped_column(sa.Text)\n"
                                         "    short_name: Mapped[str | None] = mapped_column(sa.String(100))")
        deploy_3 = MODELS_BEFORE.replace("name: Mapped[str | None] = mapped_column(sa.Text)",
                                         "short_name: Mapped[str | None] = mapped_column(sa.String(100))")
    elif kind == "drop-column":
        written = write_change(_project(accounts, pg_url), kind, "users", "email", contract_later=True)
        deploy_1 = MODELS_BEFORE.replace("email: Mapped[str] =", "email: Mapped[str | None] =")
        deploy_3 = MODELS_BEFORE.replace("    email: Mapped[str] = mapped_column(sa.String(255))\n", "")
    else:
        written = write_change(_project(accounts, pg_url), kind, "users", "name", fill="'anonymous'",
                               contract_later=True)
        deploy_1 = MODELS_BEFORE
        deploy_3 = MODELS_BEFORE.replace("name: Mapped[str | None] = mapped_column(sa.Text)",
                                         "name: Mapped[str] = mapped_column(sa.Text)")
    models.write_text(deploy_1)

    def production_migrate():
        return _project(accounts, pg_url, scratch_url=pg_server, environment="production").migrate()

    report = production_migrate()
    assert report.ok, [(c.name, c.message) for c in report.checks if not c.ok]
    assert [a.revision for a in report.applied] == [written.expand_revision]
    contract = changes.write_contract(_project(accounts, pg_url), written.name).contract_revision
    if kind != "drop-column":  # nothing to backfill
        assert backfill(_project(accounts, pg_url), written.name).verified
    models.write_text(deploy_3)
    report = production_migrate()
    assert report.ok, [(c.name, c.message) for c in report.checks if not c.ok]
    assert [a.revision for a in report.applied] == [contract]
    assert status(_project(accounts, pg_url)).changes[0].phase == "contracted"


def test_a_project_template_without_imports_still_gets_the_sign_offs(accounts, pg_url):
    template = accounts / "migrations" / "script.py.mako"
    template.write_text(template.read_text().replace('${imports if imports else ""}\n', ""))
    written = write_change(_project(accounts, pg_url), "rename-column", "users", "email", new_column="email_address")
    contract = Path(written.files[1]).read_text()
    assert "from safemigrate import allow" in contract
    assert "allow('drop-column', 'users.email', reason='expand-contract change rename_users_email')" in contract
    compile(contract, written.files[1], "exec")
    result = run_safemigrate("lint", "--database-url", pg_url, cwd=accounts)
    assert result.returncode == 0, result.stdout + result.stderr


def test_contract_waits_for_running_instances_on_the_old_shape(accounts, pg_url, pg_server, tmp_path):
    """An instance whose models still use the column the contract drops (its start-up guard recorded it) holds
    the contract back, by name, until it is gone (instance_ttl)."""
    from safemigrate import require_current_schema

    configure_backup(accounts, url=str(tmp_path / "backups"))
    models = accounts / "accounts" / "models.py"
    written = write_change(_project(accounts, pg_url), "drop-column", "users", "email", contract_later=True)
    models.write_text(MODELS_BEFORE.replace("email: Mapped[str] =", "email: Mapped[str | None] ="))
    production = _project(accounts, pg_url, scratch_url=pg_server, environment="production")
    assert [a.revision for a in production.migrate().applied] == [written.expand_revision]
    old_models = sa.MetaData()
    sa.Table("users", old_models, sa.Column("id", sa.BigInteger, primary_key=True),
             sa.Column("email", sa.String(255), nullable=True), sa.Column("name", sa.Text, nullable=True))
    require_current_schema(pg_url, accounts, metadata=old_models)  # an instance of the old code starts
    assert scalar(pg_url, "SELECT old_shapes FROM safemigrate_instances") == f'["{written.name}"]'

    changes.write_contract(_project(accounts, pg_url), written.name)
    models.write_text(MODELS_BEFORE.replace("    email: Mapped[str] = mapped_column(sa.String(255))\n", ""))
    refused = _project(accounts, pg_url, scratch_url=pg_server, environment="production").migrate()
    check = next(c for c in refused.checks if c.name == "contracts backfilled")
    assert not check.ok and "still use" in check.message and "pid" in check.message, check.message
    assert "email" in _columns_of(pg_url)  # nothing dropped

    execute(pg_url, "UPDATE safemigrate_instances SET seen_at = seen_at - interval '2 hours'")  # gone for 1h+
    report = _project(accounts, pg_url, scratch_url=pg_server, environment="production").migrate()
    assert report.ok, [(c.name, c.message) for c in report.checks if not c.ok]
    assert "email" not in _columns_of(pg_url)


def _columns_of(url: str) -> list[str]:
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        return [c["name"] for c in sa.inspect(engine).get_columns("users")]
    finally:
        engine.dispose()
