"""Shapes real projects ship (tests/projects/*, one per shape): each is driven with at most a documented key."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import run_safemigrate
from sqlalchemy import create_engine, pool

from safemigrate import Project
from safemigrate.core.errors import EnvPyError, MigrationFailed

IN_SYNC_EVERYWHERE = ["ini_in_package", "no_ini", "create_all_baseline", "baseline_callable", "connection_attribute",
                      "import_time_settings", "app_factory", "versions_subfolders", "version_locations",
                      "noisy_logging", "data_migration_scalar", "flask_migrate_app", "cli_prepared_config",
                      "placeholder_ini_url", "identity_keys"]


@pytest.mark.parametrize("name", IN_SYNC_EVERYWHERE + ["sqlite_plain_url", "async_own_loop", "anyio_worker"])
def test_real_shapes_are_in_sync_on_sqlite(project_factory, name):
    report = Project.from_pyproject(project_factory(name)).check()
    assert report.ok, ([d.description for d in report.differences], [p.message for p in report.problems])
    assert report.revisions_applied >= 2


@pytest.mark.postgres
@pytest.mark.parametrize("name", IN_SYNC_EVERYWHERE + ["db_parts_env", "computed_columns", "async_own_loop",
                                                      "anyio_worker"])
def test_real_shapes_are_in_sync_on_postgres(project_factory, pg_server, name):
    report = Project.from_pyproject(project_factory(name), scratch_url=pg_server, dialect="postgresql").check()
    assert report.ok, ([d.description for d in report.differences], [p.message for p in report.problems])


@pytest.mark.mysql
@pytest.mark.parametrize("name", IN_SYNC_EVERYWHERE + ["mysql_server_defaults"])
def test_real_shapes_are_in_sync_on_mariadb(project_factory, mysql_server, name):
    report = Project.from_pyproject(project_factory(name), scratch_url=mysql_server, dialect="mysql").check()
    assert report.ok, ([d.description for d in report.differences], [p.message for p in report.problems])


def _set_key(project: Path, line: str | None, remove: str | None = None) -> None:
    pyproject = project / "pyproject.toml"
    lines = pyproject.read_text().splitlines()
    if remove is not None:
        lines = [item for item in lines if not item.startswith(remove)]
    if line is not None:
        lines.insert(lines.index("[tool.safemigrate]") + 1, line)
    pyproject.write_text("\n".join(lines) + "\n")


# -- 1. the classic env.py that calls fileConfig(config.config_file_name) unconditionally ---------
def test_ini_shipped_inside_the_package_is_found(project_factory):
    project = Project.from_pyproject(project_factory("ini_in_package"))
    assert project.layout.ini == (project.settings.root / "inipkgapp" / "alembic.ini").resolve()


def test_a_project_without_ini_gets_a_generated_one_and_keeps_its_folder_clean(project_factory):
    folder = project_factory("no_ini")
    before = sorted(p.name for p in folder.iterdir())
    project = Project.from_pyproject(folder)
    assert project.layout.ini is None
    assert project.check().ok
    assert sorted(p.name for p in folder.iterdir()) == before  # no alembic.ini, no database left behind


# -- 2. migration chains that start from a create_all baseline --------------------------------------
def test_without_the_baseline_key_the_message_names_it(project_factory):
    folder = project_factory("create_all_baseline")
    _set_key(folder, None, remove="baseline")
    with pytest.raises(MigrationFailed) as info:
        Project.from_pyproject(folder).check()
    message = str(info.value)
    assert "baseline" in message and "create_all" in message
    assert "Fix the migration" not in message  # the migration is fine; the project builds its tables first


def test_baseline_tables_are_not_counted_as_what_revision_one_does(project_factory):
    project = Project.from_pyproject(project_factory("create_all_baseline"))
    first = project.review("base:heads").revisions[0]
    sent = " ".join(s.sql for s in first.sent).upper()
    assert "ALTER TABLE" in sent or "CREATE INDEX" in sent
    assert "CREATE TABLE CUSTOMERS" not in " ".join(sent.split())


# a history that starts from a schema older than Alembic: new databases are create_all + stamp head
@pytest.mark.parametrize("server", ["sqlite", "postgresql", "mysql"])
def test_baseline_stamped_at_head_checks_and_lints_every_revision(project_factory, request, server):
    scratch = {"sqlite": {}, "postgresql": {"scratch_url": "pg_server", "dialect": "postgresql"},
               "mysql": {"scratch_url": "mysql_server", "dialect": "mysql"}}[server]
    options = {k: (request.getfixturevalue(v) if k == "scratch_url" else v) for k, v in scratch.items()}
    project = Project.from_pyproject(project_factory("pre_alembic_history"), **options)
    report = project.check()
    assert report.ok and report.revisions_applied == 0
    assert any("baseline_revision" in note and "2 revision(s)" in note for note in report.notes)
    lint = project.lint()
    assert lint.revisions == ["b7e1c0a4d2f9", "3d9f5a2e8c61"] and not lint.not_linted
    review = project.review("base:heads")
    first = " ".join(s.sql for s in review.revisions[0].sent).upper()
    assert "ALTER TABLE USERS ADD COLUMN EMAIL" in " ".join(first.split())
    assert any("offline" in note for note in review.notes)


@pytest.mark.parametrize("stamp", ["heads", "3d9f5a2e8c61"])
def test_baseline_revision_may_name_every_head_or_a_revision(project_factory, stamp):
    folder = project_factory("pre_alembic_history")
    _set_key(folder, f'baseline_revision = "{stamp}"', remove="baseline_revision")
    report = Project.from_pyproject(folder).check()
    assert report.ok and report.revisions_applied == 0


def test_an_env_py_that_cannot_run_offline_leaves_the_stamped_revisions_unlinted_not_the_run(project_factory):
    folder = project_factory("pre_alembic_history")
    env_py = folder / "migrations" / "env.py"
    env_py.write_text("from alembic import context\nif context.is_offline_mode():\n"
                      "    raise ValueError(\"invalid literal for int() with base 10: ''\")\n" + env_py.read_text())
    project = Project.from_pyproject(folder)
    lint = project.lint()
    assert lint.not_linted == ["b7e1c0a4d2f9", "3d9f5a2e8c61"]
    assert any("Offline mode could not run env.py" in note for note in lint.notes)
    assert project.check().ok


def test_a_baseline_of_a_later_schema_names_baseline_revision(project_factory):
    folder = project_factory("pre_alembic_history")
    _set_key(folder, None, remove="baseline_revision")
    with pytest.raises(MigrationFailed) as info:
        Project.from_pyproject(folder).check()
    message = str(info.value)
    assert "baseline_revision = 'head'" in message and "Fix the migration" not in message


def test_live_databases_of_a_stamped_history(project_factory, tmp_path):
    folder = project_factory("pre_alembic_history")
    made = tmp_path / "made.db"
    subprocess.run([sys.executable, "-m", "oldapp.bootstrap"], cwd=folder, check=True, capture_output=True,
                   env={**os.environ, "DATABASE_URL": f"sqlite:///{made}", "PYTHONPATH": str(folder)})
    report = Project.from_pyproject(folder, database_url=f"sqlite:///{made}").check_live()
    assert report.ok and not report.versus_models
    old = tmp_path / "old.db"  # an installation older than Alembic, upgraded by revision 1 only
    engine = create_engine(f"sqlite:///{old}", poolclass=pool.NullPool)
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE users (id INTEGER NOT NULL PRIMARY KEY, name VARCHAR(100) NOT NULL)")
        conn.exec_driver_sql("ALTER TABLE users ADD COLUMN email VARCHAR(200)")
        conn.exec_driver_sql("CREATE TABLE alembic_version (version_num VARCHAR(32) PRIMARY KEY)")
        conn.exec_driver_sql("INSERT INTO alembic_version VALUES ('b7e1c0a4d2f9')")
    engine.dispose()
    report = Project.from_pyproject(folder, database_url=f"sqlite:///{old}").check_live()
    assert {d.table for d in report.versus_models} == {"tags"}  # what revision 2 will add
    assert any("before the baseline" in note for note in report.notes)


def test_a_baseline_metadata_without_tables_is_a_configuration_error(project_factory):
    folder = project_factory("pre_alembic_history")
    (folder / "oldapp" / "unimported.py").write_text("import sqlalchemy as sa\n\nmetadata = sa.MetaData()\n")
    _set_key(folder, 'baseline = "oldapp.unimported:metadata"', remove="baseline =")
    result = run_safemigrate("check", cwd=folder)
    output = " ".join((result.stdout + result.stderr).split())
    assert result.returncode == 2, output
    assert "MetaData without tables" in output and "imports every model" in output


@pytest.mark.parametrize(("line", "said"), [
    ('baseline_revision = "nosuch"', "is not a revision of this project"),
    ("", "is set without baseline"),
])
def test_baseline_revision_mistakes_are_configuration_errors(project_factory, line, said):
    folder = project_factory("pre_alembic_history")
    if line:
        _set_key(folder, line, remove="baseline_revision")
    else:
        _set_key(folder, None, remove="baseline =")
    result = run_safemigrate("check", cwd=folder)
    assert result.returncode == 2, result.stdout + result.stderr
    assert said in " ".join((result.stdout + result.stderr).split()) and "Traceback" not in result.stderr


# -- 4. settings read when the application is imported -----------------------------------------------
def test_import_time_settings_see_each_database_in_turn(project_factory, tmp_path):
    folder = project_factory("import_time_settings")
    live = tmp_path / "live.db"
    env = {"APP_DB_DSN": f"sqlite:///{live}", "APP_SECRET_KEY": "x"}
    subprocess.run([str(Path(sys.executable).with_name("alembic")), "upgrade", "head"], cwd=folder,
                   env={**os.environ, **env}, check=True, capture_output=True)
    project = Project.from_pyproject(folder, database_url=f"sqlite:///{live}")
    report = project.check_live()  # the live database, then a throwaway one, then the live one again
    assert report.ok, report
    assert project.check().ok
    project.close()


def test_placeholders_fill_separate_variables(project_factory):
    from sqlalchemy.engine import make_url

    from safemigrate.harness.envpy import environment_for

    project = Project.from_pyproject(project_factory("db_parts_env"))
    url = make_url("postgresql+psycopg://app:s3cret@127.0.0.1:5432/shop")
    env = environment_for(project.settings, url)
    assert env["DB_HOST"] == "127.0.0.1" and env["DB_NAME"] == "shop" and env["DB_PASSWORD"] == "s3cret"


# -- 5. the URL in the form the project expects, and the other backend refused -----------------------
def test_plain_sqlite_url_and_nothing_created_in_the_project(project_factory):
    folder = project_factory("sqlite_plain_url")
    assert Project.from_pyproject(folder).check().ok
    assert not list(folder.rglob("*.db"))


@pytest.mark.postgres
def test_env_py_that_opens_another_backend_is_stopped_with_a_clear_message(project_factory, pg_server):
    folder = project_factory("wrong_backend")
    result = run_safemigrate("check", "--scratch-url", pg_server, cwd=folder)
    assert result.returncode == 2, result.stderr
    assert "opened a sqlite database while safemigrate named a postgresql database" in result.stderr
    assert "Traceback" not in result.stderr
    assert not list(folder.rglob("local.db")) and not (folder / "local.db").exists()


# -- 6. revisions in subfolders, several version locations, async env.py with its own loop ------------
def test_revisions_in_subfolders_are_found(project_factory):
    project = Project.from_pyproject(project_factory("versions_subfolders"))
    paths = [r.revision.path for r in project.review("base:heads").revisions]
    assert any("versions/2023/" in p for p in paths) and any("versions/2024/" in p for p in paths)


def test_labelled_branches_with_their_own_base_are_not_a_fork_to_merge(project_factory):
    project = Project.from_pyproject(project_factory("version_locations"))
    report = project.check()
    assert report.ok and len(report.heads) == 2
    assert any("plugins/billing/versions" in (r.revision.path or "") for r in project.review("base:heads").revisions)


def test_async_env_py_works_from_inside_a_running_event_loop(project_factory):
    folder = project_factory("async_own_loop")

    async def application_start_up() -> bool:
        return Project.from_pyproject(folder).check().ok

    assert asyncio.run(application_start_up())


# -- 8. the comparison on real models -------------------------------------------------------------
def test_identity_and_computed_columns_do_not_crash_or_flood_on_sqlite(project_factory):
    report = Project.from_pyproject(project_factory("computed_columns"), dialect="sqlite").check()
    assert not [d for d in report.differences if d.kind == "modify_default"], report.differences


@pytest.mark.mysql
def test_development_migrate_on_mariadb_converges(project_factory, mysql_url):
    folder = project_factory("mysql_server_defaults")
    for _ in range(2):
        report = Project.from_pyproject(folder, database_url=mysql_url, environment="development").migrate()
        assert report.ok, report
        assert not report.generated  # now() vs current_timestamp() is not a change
    assert not list((folder / "migrations" / "versions").glob("*sync*"))


# -- 11. rendered DDL runs on its dialect -----------------------------------------------------------
def test_sqlite_fix_is_a_batch_rebuild_that_runs(project_factory, tmp_path):
    folder = project_factory("sqlite_alter_drift")
    report = Project.from_pyproject(folder).check()
    assert sorted(d.kind for d in report.differences) == ["modify_nullable", "modify_type"]
    statements = [s for d in report.differences for s in d.sql]
    assert not any("ALTER COLUMN" in s.upper() for s in statements)
    assert any("_alembic_tmp_products" in s for s in statements)
    assert all("batch_alter_table" in d.code for d in report.differences)
    live = tmp_path / "fix.db"
    subprocess.run([str(Path(sys.executable).with_name("alembic")), "upgrade", "head"], cwd=folder,
                   env={**os.environ, "DATABASE_URL": f"sqlite:///{live}"}, check=True, capture_output=True)
    engine = create_engine(f"sqlite:///{live}", poolclass=pool.NullPool)
    with engine.begin() as conn:
        for statement in statements:
            conn.exec_driver_sql(statement)
    engine.dispose()


# -- 12. live databases the application built itself -------------------------------------------------
def test_live_database_from_create_all_says_the_migrations_miss_something(project_factory, tmp_path):
    folder = project_factory("create_all_stamped")
    live = f"sqlite:///{tmp_path / 'live.db'}"
    subprocess.run([sys.executable, "-m", "stampedapp.bootstrap"], cwd=folder, env={**os.environ,
                   "DATABASE_URL": live, "PYTHONPATH": str(folder)}, check=True, capture_output=True)
    report = Project.from_pyproject(folder, database_url=live).check_live()
    assert not report.versus_models and not report.out_of_band
    missing = {(d.table, d.object) for d in report.missing_in_migrations}
    assert ("api_keys", None) in missing and ("users", "locale") in missing
    assert not [s for d in report.missing_in_migrations for s in d.sql]  # no DROP proposed
    assert any("migrations" in note and "create_all" in note for note in report.notes)
    assert not report.ok


# -- 13. init finds an installed package's setup ------------------------------------------------------
def test_init_by_package_fills_metadata_from_env_py_and_check_passes(project_factory):
    folder = project_factory("packaged_migrations")
    result = run_safemigrate("init", "--package", "pkgmigapp", cwd=folder, env={"PYTHONPATH": str(folder)})
    assert result.returncode == 0, result.stderr
    table = (folder / "pyproject.toml").read_text()
    assert 'metadata = "pkgmigapp.models:Base.metadata"' in table
    check = run_safemigrate("check", cwd=folder, env={"PYTHONPATH": str(folder)})
    assert check.returncode == 0, check.stdout + check.stderr


# -- 14. noise -----------------------------------------------------------------------------------------
def test_json_output_is_json_alone_when_env_py_logs_and_prints(project_factory):
    folder = project_factory("noisy_logging")
    result = run_safemigrate("check", "--format", "json", cwd=folder)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["kind"] == "check"
    text_run = run_safemigrate("check", cwd=folder)
    assert "INFO" not in text_run.stdout + text_run.stderr
    assert "CREATE TABLE" not in text_run.stdout + text_run.stderr  # the SQL echo stays captured


# -- the data migration that reads the database -----------------------------------------------------
def test_lint_and_review_work_on_a_data_migration_that_reads_the_database(project_factory):
    project = Project.from_pyproject(project_factory("data_migration_scalar"))
    assert project.lint().revisions
    assert project.review("base:heads").revisions


def test_env_py_failure_says_where_it_stopped(project_factory):
    folder = project_factory("import_time_settings")
    _set_key(folder, None, remove="APP_SECRET_KEY")
    with pytest.raises((EnvPyError, MigrationFailed)) as info:
        Project.from_pyproject(folder).check()
    message = str(info.value)
    assert "[tool.safemigrate.env]" in message
    assert "Fix the migration" not in message


def test_live_database_inspection_needs_nothing_of_the_project_in_this_process(project_factory, tmp_path):
    folder = project_factory("import_time_settings")
    project = Project.from_pyproject(folder)
    project.check()
    assert "dsnapp" not in sys.modules and "dsnapp.settings" not in sys.modules
    project.close()


@pytest.mark.postgres
def test_production_preflight_and_lint_work_on_a_data_migration_that_reads(project_factory, pg_url, tmp_path):
    # no scratch server: the SQL for PostgreSQL can only be rendered offline, and offline mode cannot
    # render a migration that reads the database
    folder = project_factory("data_migration_scalar")
    with (folder / "pyproject.toml").open("a") as pyproject:
        pyproject.write(f'\n[tool.safemigrate.backup]\nurl = "{tmp_path / "backups"}"\n')
    project = Project.from_pyproject(folder, database_url=pg_url, environment="production")
    lint = project.lint()
    assert lint.mode == "offline" and lint.not_linted and lint.ok
    report = project.migrate()
    assert report.ok, [c for c in report.checks if not c.ok]
    guard = next(c for c in report.checks if c.name == "pending revisions pass the guard")
    assert "run-time guard" in guard.message
    assert report.applied and report.verified


# -- keys for what a project does outside env.py: an application context, a prepared Config ------
def test_flask_migrate_env_py_without_the_app_key_names_it(project_factory):
    folder = project_factory("flask_migrate_app")
    _set_key(folder, None, remove="app =")
    with pytest.raises(EnvPyError) as info:
        Project.from_pyproject(folder).check()
    assert "app = 'package.module:create_app'" in str(info.value)


def test_config_the_cli_prepares_without_the_setup_key_names_it(project_factory):
    folder = project_factory("cli_prepared_config")
    _set_key(folder, None, remove="setup =")
    with pytest.raises(EnvPyError) as info:
        Project.from_pyproject(folder).check()
    message = str(info.value)
    assert "`setup`" in message and "it stopped before any revision ran" in message


# -- 9. the dialect never comes from a placeholder in alembic.ini --------------------------------------------
@pytest.mark.postgres
def test_ini_default_url_does_not_decide_the_dialect(project_factory, pg_server):
    report = Project.from_pyproject(project_factory("placeholder_ini_url"), scratch_url=pg_server).check()
    assert report.ok and report.dialect == "postgresql"
    assert not report.notes  # no "the DDL is rendered for sqlite" note


@pytest.mark.parametrize("placeholder", ["scheme://localhost/app", '""', "driver://user:pass@localhost/dbname"])
@pytest.mark.slow
def test_unusable_ini_url_is_ignored(project_factory, placeholder):
    folder = project_factory("placeholder_ini_url")
    ini = folder / "alembic.ini"
    ini.write_text(ini.read_text().replace("sqlalchemy.url = sqlite:///dev.db", f"sqlalchemy.url = {placeholder}"))
    for command in (("check",), ("review",), ("lint",)):
        result = run_safemigrate(*command, cwd=folder)
        assert result.returncode == 0, (command, result.stdout, result.stderr)


def test_review_without_a_named_database_reviews_every_revision(project_factory):
    report = Project.from_pyproject(project_factory("placeholder_ini_url")).review()
    assert report.range.startswith("base:heads") and len(report.revisions) == 2


# -- shapes the real-world corpus found (benchmarks/realworld/repros) -------------------------------------
def test_init_reads_a_models_module_imported_from_the_package(project_factory):
    folder = project_factory("init_submodule")  # env.py: from submodapp import models; models.Base.metadata
    result = run_safemigrate("init", "--package", "submodapp", "--format", "json", cwd=folder,
                             env={"PYTHONPATH": str(folder)})
    assert result.returncode == 0, result.stderr
    assert 'metadata = "submodapp.models:Base.metadata"' in (folder / "pyproject.toml").read_text()
    assert not [n for n in json.loads(result.stdout)["notes"] if "could not be imported" in n]
    check = run_safemigrate("check", cwd=folder, env={"PYTHONPATH": str(folder)})
    assert check.returncode == 0, check.stdout + check.stderr


def test_error_env_py_swallows_is_reported_with_its_revision(project_factory):
    result = run_safemigrate("check", "--format", "json", cwd=project_factory("swallowed_error"))
    assert result.returncode == 3, result.stdout + result.stderr
    error = json.loads(result.stdout)
    assert error["revision"] == "b2" and error["path"].endswith("b2_broken.py") and error["line"]
    assert "no such table: missing" in error["what"]
    assert "env.py caught this error" in error["why"]


def test_async_settings_read_at_import_get_the_async_url_in_a_fresh_process(project_factory):
    report = Project.from_pyproject(project_factory("async_import_settings")).check()
    assert report.ok and report.revisions_applied == 2, report


def test_async_engine_from_a_url_env_py_does_not_take_from_safemigrate_names_the_real_cause(project_factory):
    folder = project_factory("async_import_settings")
    _set_key(folder, None, remove="ASYNCSET_DATABASE_URL")
    with (folder / "pyproject.toml").open("a") as pyproject:
        pyproject.write('ASYNCSET_DATABASE_URL = "sqlite:///elsewhere.db"\n')  # not {url}: the app's own database
    with pytest.raises(EnvPyError) as info:
        Project.from_pyproject(folder).check()
    message = str(info.value)
    assert "from a URL with a sync driver, although safemigrate gave it sqlite+aiosqlite://" in message
    assert "NAME = \"{url}\"" in message


@pytest.mark.postgres
def test_async_driver_of_the_scratch_url_is_kept_for_env_py(project_factory, pg_server):
    pytest.importorskip("asyncpg")
    folder = project_factory("asyncpg_connect_args")
    scratch = pg_server.replace("+psycopg", "+asyncpg")
    report = Project.from_pyproject(folder, scratch_url=scratch).check()
    assert report.ok and report.revisions_applied == 2, report


@pytest.mark.postgres
def test_a_connect_option_the_driver_refuses_is_not_an_unreachable_server(project_factory, pg_server):
    result = run_safemigrate("check", "--scratch-url", pg_server, "--format", "json",
                             cwd=project_factory("asyncpg_connect_args"))
    assert result.returncode == 2, result.stdout + result.stderr
    error = json.loads(result.stdout)
    assert error["error"] == "EnvPyError"
    assert 'connection option that the psycopg driver refuses' in error["what"] and '"timeout"' in error["what"]
    assert "did not answer" not in error["why"]


@pytest.mark.postgres
def test_sync_env_py_given_an_async_scratch_url_runs_with_the_sync_driver(project_factory, pg_server):
    pytest.importorskip("asyncpg")
    scratch = pg_server.replace("+psycopg", "+asyncpg")
    report = Project.from_pyproject(project_factory("shared_metadata"), scratch_url=scratch).check()
    assert report.ok, report


def test_the_same_metadata_listed_twice_is_compared_once(project_factory):
    report = Project.from_pyproject(project_factory("shared_metadata")).check()
    assert report.ok and report.revisions_applied == 2, report


def test_a_table_on_two_metadata_objects_is_a_clear_usage_error(project_factory):
    folder = project_factory("shared_metadata")
    _set_key(folder, 'metadata = ["sharedmdapp.storage:runs", "sharedmdapp.storage:events"]', remove="metadata")
    result = run_safemigrate("check", "--format", "json", cwd=folder)
    assert result.returncode == 2, result.stdout + result.stderr
    error = json.loads(result.stdout)
    assert error["error"] == "MetadataError"
    assert "secondary_indexes" in error["what"] and "each table once" in error["fix"]


def test_an_internal_error_shows_its_traceback_with_safemigrate_debug(monkeypatch, capsys):
    from safemigrate.cli.common import _run
    from safemigrate.core.errors import InternalError

    def fails() -> bool:
        raise InternalError("Alembic's comparison failed: ValueError: boom", details="Traceback (most recent call "
                            "last):\n  File \"env.py\", line 1\nValueError: boom")

    monkeypatch.setenv("SAFEMIGRATE_DEBUG", "1")
    with pytest.raises(SystemExit) as info:
        _run("json", fails)
    assert info.value.code == 4
    captured = capsys.readouterr()
    assert json.loads(captured.out)["details"].startswith("Traceback")
    assert 'File "env.py", line 1' in captured.err and "in _run" in captured.err


@pytest.mark.postgres
def test_json_server_defaults_are_compared_as_json_on_postgres(project_factory, pg_server):
    folder = project_factory("json_server_default")
    report = Project.from_pyproject(folder, scratch_url=pg_server).check()
    assert report.ok, ([d.description for d in report.differences], [p.message for p in report.problems])
    models = folder / "jsondefapp" / "models.py"
    models.write_text(models.read_text().replace('server_default="[]"', "server_default=\"{}\""))
    drift = Project.from_pyproject(folder, scratch_url=pg_server).check()
    assert [(d.kind, d.table, d.object) for d in drift.differences] == [("modify_default", "users", "roles")]
    assert drift.differences[0].sql == ["ALTER TABLE users ALTER COLUMN roles SET DEFAULT '{}'"]


def test_a_column_env_py_hides_is_not_missing_from_the_live_database(project_factory, tmp_path):
    folder = project_factory("hidden_column")
    live = f"sqlite:///{tmp_path / 'live.db'}"
    subprocess.run([str(Path(sys.executable).with_name("alembic")), "upgrade", "head"], cwd=folder,
                   env={**os.environ, "DATABASE_URL": live}, check=True, capture_output=True)
    project = Project.from_pyproject(folder, database_url=live)
    report = project.check_live()
    assert not report.missing_in_migrations and not report.out_of_band and not report.notes, report
    assert report.ok
    project.close()


@pytest.mark.slow
def test_an_engine_built_at_import_with_pool_options_loads_without_a_database(project_factory):
    folder = project_factory("engine_at_import")
    for command in (("lint",), ("review",), ("lint", "--dialect", "postgresql"), ("check",)):
        result = run_safemigrate(*command, cwd=folder)
        assert result.returncode == 0, (command, result.stdout, result.stderr)
    assert not list(folder.rglob("*.db"))
