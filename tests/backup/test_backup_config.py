"""[tool.safemigrate.backup], backup names, storage set-up and the progress display (no servers needed)."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from safemigrate.backup import BackupSettings, parse_backup_settings
from safemigrate.backup.results import Progress
from safemigrate.backup.storage import Storage
from safemigrate.cli.backup import progress_display
from safemigrate.config.backup import DEFAULT_NAME, render_name
from safemigrate.config.settings import load_settings
from safemigrate.core.errors import BackupConfigError, ConfigError


def test_defaults() -> None:
    settings = parse_backup_settings({})
    assert settings == BackupSettings()
    assert settings.name == DEFAULT_NAME == "{database}-{environment}-{timestamp}-{from_rev}-{to_rev}"
    assert not settings.configured and settings.required("production") and not settings.required("staging")
    full = parse_backup_settings({"url": "s3://b/p", "keep": 7, "required_in": ["production", "staging"],
                                  "verify": "restore", "pg_dump": "/opt/pg/bin/pg_dump",
                                  "storage_options": {"client_kwargs": {"region_name": "eu-west-1"}}})
    assert full.configured and full.required("staging") and full.keep == 7
    assert full.tools == {"pg_dump": "/opt/pg/bin/pg_dump"}


@pytest.mark.parametrize("table, message", [
    ({"urll": "x"}, "Unknown key(s) in [tool.safemigrate.backup]: urll."),
    ({"keep": "7"}, "[tool.safemigrate.backup] keep must be a integer, not str ('7')."),
    ({"keep": True}, "[tool.safemigrate.backup] keep must be a integer, not bool (True)."),
    ({"keep": 0}, "[tool.safemigrate.backup] keep = 0 keeps no backup at all."),
    ({"required_in": ["prod"]}, "[tool.safemigrate.backup] required_in names unknown environment(s): prod."),
    ({"verify": "full"}, "[tool.safemigrate.backup] verify = 'full' is not a verification level."),
    ({"buffer_mb": 0}, "[tool.safemigrate.backup] buffer_mb = 0 is out of range."),
    ({"name": "{database}-{url}"}, "[tool.safemigrate.backup] name = '{database}-{url}' uses unknown "
                                   "placeholder(s): url."),
    ({"name": "backup"}, "[tool.safemigrate.backup] name = 'backup' uses unknown placeholder(s): (none: every "
                         "backup would get the same name)."),
    ({"name": "{database"}, "[tool.safemigrate.backup] name = '{database' is not a valid template: "),
    ({"name": "../{timestamp}"}, "[tool.safemigrate.backup] name = '../{timestamp}' leaves the backup folder."),
    ({"storage_options": {"key": "AKIA", "secret": "s"}},
     "[tool.safemigrate.backup] storage_options holds credential-like key(s): key, secret."),
])
def test_mistakes_are_configuration_errors(table: dict, message: str) -> None:
    with pytest.raises(BackupConfigError) as caught:
        parse_backup_settings(table)
    assert caught.value.what.startswith(message)
    assert caught.value.exit_code == 2 and caught.value.why and caught.value.fix


def test_names_are_safe_for_any_store() -> None:
    name = render_name("{environment}/{database}-{timestamp}-{from_rev}-{to_rev}", database="my shop/db",
                       environment="production", timestamp="20240101T000000Z", from_rev="abc,def", to_rev=None)
    assert name == "production/my_shop_db-20240101T000000Z-abc_def-_"


def test_pyproject_table_is_read_and_checked(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[tool.safemigrate]\nmetadata = "app.models:metadata"\n\n'
        '[tool.safemigrate.backup]\nurl = "s3://acme/shop"\nkeep = 3\nrequired_in = ["production"]\n')
    settings = load_settings(tmp_path)
    assert settings.backup == {"url": "s3://acme/shop", "keep": 3, "required_in": ["production"]}
    (tmp_path / "pyproject.toml").write_text('[tool.safemigrate]\nbackup = "s3://acme"\n')
    with pytest.raises(ConfigError, match="backup must be a TOML table"):
        load_settings(tmp_path)
    (tmp_path / "pyproject.toml").write_text('[tool.safemigrate.backup]\nretention = 3\n')
    with pytest.raises(ConfigError, match="Unknown key"):
        load_settings(tmp_path)


def test_s3_endpoint_from_the_standard_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    storage = Storage("s3://bucket/folder")
    assert storage.fs.endpoint_url == "http://127.0.0.1:9"
    assert storage.location("a.dump") == "s3://bucket/folder/a.dump"
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", "http://127.0.0.1:10")
    assert Storage("s3://bucket/folder").fs.endpoint_url == "http://127.0.0.1:10"
    explicit = Storage("s3://bucket/folder", {"endpoint_url": "http://127.0.0.1:11"})
    assert explicit.fs.endpoint_url == "http://127.0.0.1:11"


def test_unknown_or_missing_storage_driver() -> None:
    with pytest.raises(BackupConfigError) as caught:
        Storage("nosuchproto://bucket/x")
    assert caught.value.what.startswith("The backup destination nosuchproto://bucket/x cannot be opened")


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_lines_in_ci(capsys: pytest.CaptureFixture[str]) -> None:
    with progress_display() as show:
        assert show is not None
        show(Progress("dump", 0, 0.0))
        show(Progress("dump", 5 << 20, 0.5))  # within 5 s of the last line: not repeated
        show(Progress("dump", 10 << 20, 1.0, done=True))
        show(Progress("verify", 10 << 20, 0.2, done=True))
    lines = capsys.readouterr().err.splitlines()
    assert lines == ["dumping: 0 B (0 B/s, 0.0s)", "dumping: 10.0 MiB (10.0 MiB/s, 1.0s)",
                     "verifying: 10.0 MiB (50.0 MiB/s, 0.2s)"]
    with progress_display(False) as show:
        assert show is None


def test_progress_bar_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    terminal = _Terminal()
    monkeypatch.setattr("sys.stderr", terminal)
    with progress_display() as show:
        show(Progress("dump", 3 << 20, 1.0))
        show(Progress("dump", 6 << 20, 2.0, done=True))
    screen = terminal.getvalue()
    assert "dumping" in screen and "6.0 MiB" in screen and "3.0 MiB/s" in screen
    assert "\x1b[" in screen  # rich's live display


def test_s3_without_the_s3_extra_is_refused_before_anything_is_written(shop: Path, tmp_path: Path) -> None:
    """s3fs is an extra: without it, a backup to s3:// is a configuration error naming what to install."""
    from conftest import configure_backup, run_safemigrate
    from helpers import upgrade

    database = f"sqlite:///{tmp_path / 'shop.db'}"
    upgrade(shop, database, "head")
    configure_backup(shop, url="s3://backups/shop")
    shadow = tmp_path / "without_s3fs" / "s3fs"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text("raise ImportError(\"No module named 's3fs'\")\n")
    before = sorted(p.name for p in tmp_path.iterdir())
    result = run_safemigrate("backup", "create", "--project", str(shop), "--database-url", database, cwd=shop,
                             env={"PYTHONPATH": str(shadow.parent)})
    output = " ".join((result.stdout + result.stderr).split())
    assert result.returncode == 2, output
    assert "pip install 'safemigrate[s3]'" in output and "Traceback" not in output
    assert sorted(p.name for p in tmp_path.iterdir()) == before
