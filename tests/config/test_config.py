"""[tool.safemigrate] parsing, environment and URL resolution."""

from __future__ import annotations

from pathlib import Path

import pytest

from safemigrate.config.settings import load_settings, resolve_database_url, resolve_environment
from safemigrate.core.errors import ConfigError


def write(tmp_path: Path, body: str) -> Path:
    (tmp_path / "pyproject.toml").write_text(body)
    return tmp_path


def test_defaults_apply(tmp_path):
    settings = load_settings(write(tmp_path, '[tool.safemigrate]\nmetadata = "app.models:Base.metadata"\n'))
    assert settings.script_location is None  # found from alembic.ini or the usual folders
    assert settings.database_url_env == "DATABASE_URL"
    assert settings.environment_env == "APP_ENV"
    assert settings.compare_server_default is True


def test_found_from_a_subfolder(tmp_path):
    write(tmp_path, "[tool.safemigrate]\n")
    (tmp_path / "a" / "b").mkdir(parents=True)
    assert load_settings(tmp_path / "a" / "b").root == tmp_path.resolve()


@pytest.mark.parametrize("body, fragment", [
    ("[project]\nname='x'\n", "has no [tool.safemigrate] table"),
    ("[tool.safemigrate]\nmetdata = 'a:b'\n", "Unknown key(s) in [tool.safemigrate]: metdata"),
    ("[tool.safemigrate]\nscript_location = 3\n", "script_location must be a TOML string"),
    ("[tool.safemigrate]\nmetadata = 'app.models.Base'\n", "is not an import path"),
    ("[tool.safemigrate\n", "is not valid TOML"),
])
def test_bad_configuration_is_explained(tmp_path, body, fragment):
    write(tmp_path, body)
    with pytest.raises(ConfigError) as info:
        load_settings(tmp_path)
    assert fragment in info.value.what
    assert info.value.fix and info.value.exit_code == 2


def test_no_pyproject_anywhere(tmp_path):
    with pytest.raises(ConfigError, match="No pyproject.toml"):
        load_settings(tmp_path)


@pytest.mark.parametrize("value, name, assumed", [
    (None, "production", True),
    ("", "production", True),
    ("dev", "development", False),
    ("PROD", "production", False),
    ("staging", "staging", False),
    ("qa-7", "production", True),
])
def test_environment_unknown_or_unset_is_production(tmp_path, monkeypatch, value, name, assumed):
    settings = load_settings(write(tmp_path, "[tool.safemigrate]\n"))
    if value is None:
        monkeypatch.delenv("APP_ENV", raising=False)
    else:
        monkeypatch.setenv("APP_ENV", value)
    env = resolve_environment(settings)
    assert (env.name, env.assumed) == (name, assumed)
    if assumed:
        assert "treated as production" in env.describe()


def test_configured_aliases(tmp_path):
    settings = load_settings(write(tmp_path, "[tool.safemigrate]\nenvironment_aliases = { qa = 'staging' }\n"))
    assert resolve_environment(settings, "qa").name == "staging"


def test_database_url_precedence(tmp_path, monkeypatch):
    settings = load_settings(write(tmp_path, "[tool.safemigrate]\ndatabase_url = 'sqlite:///cfg.db'\n"))
    assert resolve_database_url(settings) == ("sqlite:///cfg.db", "[tool.safemigrate] database_url")
    monkeypatch.setenv("DATABASE_URL", "sqlite:///env.db")
    assert resolve_database_url(settings)[0] == "sqlite:///env.db"
    monkeypatch.setenv("SAFEMIGRATE_DATABASE_URL", "sqlite:///override.db")
    assert resolve_database_url(settings)[0] == "sqlite:///override.db"
    assert resolve_database_url(settings, "sqlite:///flag.db") == ("sqlite:///flag.db", "--database-url")


def test_alembic_placeholder_url_is_ignored(tmp_path):
    settings = load_settings(write(tmp_path, "[tool.safemigrate]\n"))
    assert resolve_database_url(settings, ini_url="driver://user:pass@localhost/dbname") == (None, "")
