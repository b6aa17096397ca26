"""``safemigrate config``: every key validated up front, each value with its source, passwords masked."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import PROJECTS, copy_project


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return copy_project(PROJECTS / "plain_env", tmp_path / "plain_env")


def _append(project: Path, text: str) -> None:
    path = project / "pyproject.toml"
    path.write_text(path.read_text() + text)


def _values(result) -> dict[str, dict]:
    return {v["key"]: v for v in json.loads(result.stdout)["values"]}


def test_each_value_says_where_it_came_from(cli, project):
    _append(project, 'lock_timeout = "2s"\nenvironment_aliases = { qa = "staging" }\n'
                     '[tool.safemigrate.lint]\nignore = ["prefer-jsonb"]\n')
    result = cli("config", "--project", str(project), "--format", "json", "--no-connect",
                 env={"DATABASE_URL": "postgresql://app:s3cr3t-pw@db.example:5432/shop", "APP_ENV": "qa"})
    assert result.exit_code == 0, result.output
    values = _values(result)
    assert values["script_location"] == {"key": "script_location", "value": "migrations", "source": "pyproject",
                                         "note": ""}
    assert (values["lock_timeout"]["source"], values["lock_timeout"]["note"]) == ("pyproject", "2000 ms")
    assert (values["statement_timeout"]["source"], values["statement_timeout"]["note"]) == ("default", "off")
    assert values["database_url"]["source"] == "$DATABASE_URL"
    assert values["database_url"]["value"] == "postgresql://app:***@db.example:5432/shop"
    assert (values["environment"]["value"], values["environment"]["source"]) == ("staging", "$APP_ENV")
    assert values["environment_aliases.qa"]["value"] == "staging"
    assert (values["lint.ignore"]["value"], values["lint.ignore"]["source"]) == (["prefer-jsonb"], "pyproject")
    assert values["backup.url"]["note"] == "backups are off"
    assert "s3cr3t-pw" not in result.output


def test_the_text_report_masks_the_password_and_ends_valid(cli, project):
    result = cli("config", "--project", str(project), "--no-connect", "--database-url",
                 "postgresql://app:s3cr3t-pw@db.example/shop")
    assert result.exit_code == 0, result.output
    assert "s3cr3t-pw" not in result.output and "--database-url" in result.output
    assert "The configuration is valid." in result.output


def test_an_unknown_key_is_named_with_the_closest_known_one(cli, project):
    _append(project, 'lock_timout = "2s"\n')
    result = cli("config", "--project", str(project), "--no-connect")
    assert result.exit_code == 2
    assert "Unknown key(s) in [tool.safemigrate]: lock_timout." in result.stderr
    assert "Did you mean 'lock_timeout'?" in result.stderr


def test_an_unknown_key_in_a_sub_table_too(cli, project):
    _append(project, '[tool.safemigrate.backup]\nkep = 3\n')
    result = cli("config", "--project", str(project), "--no-connect", "--format", "json")
    assert result.exit_code == 2
    error = json.loads(result.stdout)
    assert "kep" in error["what"] and "Did you mean 'keep'?" in error["fix"]


@pytest.mark.parametrize(("line", "named"), [
    ('environment_aliases = { qa = "stagin" }\n', "Did you mean 'staging'?"),
    ('statement_timeout = "5 parsecs"\n', "statement_timeout = '5 parsecs' is not a duration"),
    ('[tool.safemigrate.lint]\nselect = ["add-index-nonconcurrently"]\n', "'add-index-non-concurrently'"),
    ('[tool.safemigrate.rehearsal]\nmax_writer_stal = "50ms"\n', "Did you mean 'max_writer_stall'?"),
])
def test_every_part_of_the_configuration_is_checked_up_front(cli, project, line, named):
    _append(project, line)
    result = cli("config", "--project", str(project), "--no-connect")
    assert result.exit_code == 2, result.output
    assert named in result.stderr


def test_a_database_that_does_not_answer_exits_3_and_no_connect_skips_it(cli, project):
    url = "postgresql+psycopg://app:s3cr3t-pw@127.0.0.1:1/shop"
    result = cli("config", "--project", str(project), "--database-url", url)
    assert result.exit_code == 3, result.output
    said = " ".join(result.output.split())  # wrapped at the terminal's width, which a longer tmp path moves
    assert "database_url: Could not connect at postgresql+psycopg://app:***@127.0.0.1:1/shop" in said
    assert "s3cr3t-pw" not in result.output
    assert cli("config", "--project", str(project), "--database-url", url, "--no-connect").exit_code == 0


def test_a_url_that_does_not_parse_is_a_configuration_error(cli, project):
    result = cli("config", "--project", str(project), "--no-connect", "--scratch-url", "not a url")
    assert result.exit_code == 2
    assert "is not a database URL" in result.stderr


def test_reachable_databases_are_reported_as_answering(cli, project, pg_url, pg_server):
    result = cli("config", "--project", str(project), "--database-url", pg_url, "--scratch-url", pg_server,
                 "--format", "json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["ok"] is True
    assert [(c["name"], c["reachable"]) for c in report["connections"]] == [("database_url", True),
                                                                             ("scratch_url", True)]
