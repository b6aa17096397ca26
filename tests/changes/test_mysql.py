"""Expand–contract on MariaDB (changes/mysql.py): triggers keep the old and the new column in step while two
application versions write, the backfill fills the rest, the contract drops the old column; what the server
lacks, or what is not written for it, refuses the change by name.

A smaller table than PostgreSQL's (the data path and the kills are tested there). Every wait is on what the
application threads report, with a deadline.
"""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa
from conftest import configure_backup, run_safemigrate
from helpers import execute, scalar, upgrade
from test_changes import MODELS_AFTER, MODELS_DEPLOY_1, NAME, App, accounts_project, wait_until

from safemigrate.api import Project
from safemigrate.changes import backfill, status, write_change
from safemigrate.changes.mysql import server_problems, version_of

pytestmark = pytest.mark.mysql

ROWS = 20_000


@pytest.fixture
def accounts_mysql(tmp_path, mysql_url):
    """The accounts project at 0001 on MariaDB with ROWS users (email u<id>@example.com)."""
    project = accounts_project(tmp_path / "accounts_app")
    upgrade(project, mysql_url, "0001")
    execute(mysql_url, "INSERT INTO users (id, email, name) SELECT seq, CONCAT('u', seq, '@example.com'), 'n' "
                       f"FROM seq_1_to_{ROWS}")
    return project


def _project(project, url, **options) -> Project:
    return Project.from_pyproject(project, database_url=url, **options)


def test_rename_column_while_two_application_versions_write_on_mariadb(accounts_mysql, mysql_url):
    written = write_change(_project(accounts_mysql, mysql_url), "rename-column", "users", "email",
                           new_column="email_address")
    expand_text = open(written.files[0]).read()
    assert "BEFORE INSERT ON `users` FOR EACH ROW SET" in expand_text and "BEFORE UPDATE ON `users`" in expand_text
    assert "allow('create-trigger-or-event', 'users', reason='expand-contract change rename_users_email')" \
        in expand_text
    assert "ALGORITHM=INPLACE, LOCK=NONE" in expand_text

    old = App(mysql_url, new=False, parity=0, rows=ROWS)
    old.start()
    wait_until(old.ops_after(20), "the old version to run")
    upgrade(accounts_mysql, mysql_url, written.expand_revision)  # deploy 1, while the old version writes
    old.inserted = {}
    wait_until(old.ops_after(20), "the old version to run after the expand")

    new = App(mysql_url, new=True, parity=1, rows=ROWS)  # deploy 2 starts: both versions at once
    new.others, old.others = old, new
    new.start()
    wait_until(new.ops_after(20), "the new version to run")
    report = backfill(_project(accounts_mysql, mysql_url), NAME)
    assert report.verified and report.remaining == 0, report
    new.read_old_rows = True
    wait_until(new.ops_after(20), "the new version to run after the backfill")

    old.stop.set()
    old.join(30)
    upgrade(accounts_mysql, mysql_url, "heads")  # deploy 3: the contract, while the new version writes
    wait_until(new.ops_after(20), "the new version to run after the contract")
    new.stop.set()
    new.join(30)

    assert old.errors == [] and new.errors == [], (old.errors[:3], new.errors[:3])
    assert old.mismatches == [] and new.mismatches == [], (old.mismatches[:3], new.mismatches[:3])
    engine = sa.create_engine(mysql_url, poolclass=sa.pool.NullPool)
    with engine.connect() as conn:
        rows = dict(conn.execute(sa.text("SELECT id, email_address FROM users")).all())
        columns = {c["name"]: c["nullable"] for c in sa.inspect(conn).get_columns("users")}
        triggers = conn.execute(sa.text("SELECT COUNT(*) FROM information_schema.TRIGGERS "
                                        "WHERE TRIGGER_SCHEMA = DATABASE()")).scalar()
    engine.dispose()
    assert columns == {"id": False, "email_address": False, "name": True} and triggers == 0
    expected = {i: f"u{i}@example.com" for i in range(1, ROWS + 1)}
    expected.update(old.expected)
    expected.update(new.expected)
    assert len(rows) == len(expected)
    assert [k for k in expected if rows.get(k) != expected[k]] == []
    assert status(_project(accounts_mysql, mysql_url)).changes[0].phase == "contracted"
    print(f"\n[figures] MariaDB two versions: old {old.ops} ops, new {new.ops} ops, 0 errors, 0 mismatches; "
          f"backfill {report.batches} batches, {report.rows_written} rows, slowest {report.slowest_batch_ms:.0f} ms")


def test_production_migrate_phases_on_mariadb(accounts_mysql, mysql_url, mysql_server, tmp_path):
    """Both revisions pending: --phase expand passes the preflight and the run-time guard (the triggers are
    signed off), the contract waits for the backfill, then runs."""
    configure_backup(accounts_mysql, url=str(tmp_path / "backups"))
    written = write_change(_project(accounts_mysql, mysql_url), "rename-column", "users", "email",
                           new_column="email_address")
    models = accounts_mysql / "accounts" / "models.py"

    def production(**options):
        return _project(accounts_mysql, mysql_url, scratch_url=mysql_server, environment="production"
                        ).migrate(**options)

    models.write_text(MODELS_DEPLOY_1)
    report = production(phase="expand")
    assert report.ok, [(c.name, c.message) for c in report.checks if not c.ok]
    assert [a.revision for a in report.applied] == [written.expand_revision]
    assert report.held == [written.contract_revision]
    assert status(_project(accounts_mysql, mysql_url)).changes[0].phase == "expanded"
    execute(mysql_url, "INSERT INTO users (email_address) VALUES ('new@example.com')")  # the new version's insert
    assert scalar(mysql_url, "SELECT email FROM users WHERE email_address = 'new@example.com'") == "new@example.com"

    models.write_text(MODELS_AFTER)
    refused = production(phase="contract")
    assert [c.name for c in refused.checks if not c.ok] == ["contracts backfilled"]
    assert backfill(_project(accounts_mysql, mysql_url), NAME).verified
    report = production(phase="contract")
    assert report.ok, [(c.name, c.message) for c in report.checks if not c.ok]
    assert [a.revision for a in report.applied] == [written.contract_revision]
    assert scalar(mysql_url, "SELECT COUNT(*) FROM users WHERE email_address = CONCAT('u', id, '@example.com')") \
        == ROWS


def test_set_not_null_and_drop_column_on_mariadb(accounts_mysql, mysql_url):
    execute(mysql_url, "UPDATE users SET name = NULL WHERE id % 3 = 0")
    not_null = write_change(_project(accounts_mysql, mysql_url), "set-not-null", "users", "name",
                            fill="'unknown'")
    upgrade(accounts_mysql, mysql_url, not_null.expand_revision)
    execute(mysql_url, "INSERT INTO users (email, name) VALUES ('x@example.com', NULL)")  # the trigger fills it
    assert backfill(_project(accounts_mysql, mysql_url), not_null.name).verified
    upgrade(accounts_mysql, mysql_url, "heads")
    dropped = write_change(_project(accounts_mysql, mysql_url), "drop-column", "users", "email")
    upgrade(accounts_mysql, mysql_url, dropped.expand_revision)
    execute(mysql_url, "INSERT INTO users (name) VALUES ('the new version writes no email')")
    upgrade(accounts_mysql, mysql_url, "heads")
    engine = sa.create_engine(mysql_url, poolclass=sa.pool.NullPool)
    with engine.connect() as conn:
        columns = {c["name"]: c["nullable"] for c in sa.inspect(conn).get_columns("users")}
    engine.dispose()
    assert columns == {"id": False, "name": False}
    assert scalar(mysql_url, "SELECT COUNT(*) FROM users WHERE name = 'unknown'") == ROWS // 3 + 1
    phases = {c.name: c.phase for c in status(_project(accounts_mysql, mysql_url)).changes}
    assert phases == {"drop_users_email": "contracted", "not_null_users_name": "contracted"}


def test_what_is_not_written_for_mariadb_is_refused_by_name(accounts_mysql, mysql_url):
    for args, words in ((("rename-table", "users", "members"),
                         "rename-table is not written for MySQL/MariaDB: keeping two tables in step needs a trigger "
                         "on each that writes the other"),
                        (("change-type", "users.name", "varchar(100)", "--to", "short_name", "--using", "name",
                          "--down", "short_name"), "change-type is not written for MySQL/MariaDB")):
        result = run_safemigrate("change", *args, "--database-url", mysql_url, cwd=accounts_mysql)
        assert result.returncode == 2 and words in result.stderr, result.stderr
        assert "Traceback" not in result.stderr
    assert not (accounts_mysql / "migrations" / "safemigrate_changes").exists()


def test_a_role_without_the_trigger_privilege_is_refused_by_name(accounts_mysql, mysql_url):
    user = f"h14_{scalar(mysql_url, 'SELECT CONNECTION_ID()')}"
    database = sa.make_url(mysql_url).database
    execute(mysql_url, f"CREATE USER '{user}'@'%' IDENTIFIED BY 'pw-{user}'",
            f"GRANT SELECT, INSERT, UPDATE, DELETE, ALTER, CREATE, INDEX, DROP ON `{database}`.* TO '{user}'@'%'")
    try:
        limited = sa.make_url(mysql_url).set(username=user, password=f"pw-{user}").render_as_string(
            hide_password=False)
        engine = sa.create_engine(limited, poolclass=sa.pool.NullPool)
        with engine.connect() as conn:
            problems = server_problems(conn, "users", "rename-column")
        engine.dispose()
        assert problems == ["the TRIGGER privilege on users (GRANT TRIGGER ON <database>.users TO <the migration "
                            "role>)"]
        result = run_safemigrate("change", "rename-column", "users.email", "email_address", "--database-url",
                                 limited, cwd=accounts_mysql)
        assert result.returncode == 2 and "the TRIGGER privilege on users" in result.stderr, result.stderr
        assert f"pw-{user}" not in result.stderr + result.stdout
    finally:
        execute(mysql_url, f"DROP USER '{user}'@'%'")


def test_versions_and_the_sqlite_refusal():
    assert version_of("10.11.19-MariaDB-0+deb12u1") == ((10, 11, 19), True)
    assert version_of("10.1.48-MariaDB") < ((10, 2, 3), True)
    assert version_of("8.0.36") == ((8, 0, 36), False)


def test_sqlite_is_refused(tmp_path):
    project = accounts_project(tmp_path / "accounts_app")
    result = run_safemigrate("change", "rename-column", "users.email", "email_address", "--database-url",
                             f"sqlite:///{tmp_path / 'app.db'}", cwd=project)
    assert result.returncode == 2 and "this project's database is sqlite" in result.stderr
    assert json.dumps("Traceback") not in result.stderr
