"""Output habits: -q/-v on every command, no escape sequences off a terminal, NO_COLOR, the demo piped."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner
from conftest import EXAMPLE, PROJECTS, REPO, configure_backup, copy_project, run_safemigrate
from helpers import scalar, upgrade

from safemigrate.cli.main import main

ESCAPE = "\x1b"
#: an SGR sequence that sets a colour (30-37, 90-97 foreground, 40-47 / 100-107 background, 38;/48; extended)
COLOUR = re.compile(r"\x1b\[(?:[0-9;]*;)?(?:3[0-7]|9[0-7]|4[0-7]|10[0-7]|38|48)(?:;[0-9;]*)?m")


def _command_paths(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    paths: list[tuple[str, ...]] = []
    ctx = click.Context(group)
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        assert command is not None
        paths.append((*prefix, name))
        if isinstance(command, click.Group):
            paths += _command_paths(command, (*prefix, name))
    return paths


def test_every_command_takes_quiet_and_verbose() -> None:
    paths = _command_paths(main)
    assert ("ledger", "accept") in paths and ("backup", "create") in paths and ("rules", "explain") in paths
    missing = []
    for path in [(), *paths]:
        result = CliRunner().invoke(main, [*path, "--help"], terminal_width=200)
        assert result.exit_code == 0, (path, result.output)
        if "-q, --quiet" not in result.output or "-v, --verbose" not in result.output:
            missing.append(" ".join(path) or "safemigrate")
    assert not missing, f"commands without -q/--quiet or -v/--verbose: {missing}"


@pytest.mark.slow
def test_quiet_prints_nothing_when_it_passes_and_the_report_when_it_does_not(tmp_path: Path) -> None:
    shop = copy_project(EXAMPLE, tmp_path)
    for args in (["check", "-q"], ["-q", "check"], ["check", "--quiet"]):
        result = run_safemigrate(*args, cwd=shop)
        assert (result.returncode, result.stdout, result.stderr) == (0, "", ""), args
    # a listing is what was asked for: it prints under -q too
    listed = run_safemigrate("rules", "-q", cwd=shop)
    assert listed.returncode == 0 and "drop-column" in listed.stdout
    drifted = copy_project(PROJECTS / "drifted", tmp_path)
    result = run_safemigrate("check", "-q", cwd=drifted)
    assert result.returncode == 1
    assert "ALTER TABLE users ADD COLUMN nickname VARCHAR(50);" in result.stdout
    assert "✗ models and migrations differ" in result.stdout
    # -q never hides an error
    failed = run_safemigrate("status", "-q", "--database-url", "postgresql://u:secret@127.0.0.1:1/x", cwd=shop)
    assert failed.returncode == 3 and failed.stderr.strip() and "secret" not in failed.stderr + failed.stdout


@pytest.mark.slow
def test_verbose_shows_what_env_py_and_the_migrations_print(tmp_path: Path) -> None:
    noisy = copy_project(PROJECTS / "noisy_logging", tmp_path)
    plain = run_safemigrate("check", cwd=noisy)
    loud = run_safemigrate("check", "-v", cwd=noisy)
    assert plain.returncode == loud.returncode == 0, plain.stdout + plain.stderr
    assert "creating countries and cities" not in plain.stdout + plain.stderr
    assert "creating countries and cities" in loud.stderr  # a revision's print(), on stderr with -v
    assert "✓ models and migrations agree" in loud.stdout
    assert run_safemigrate("rules", "explain", "drop-column", "-v", cwd=noisy).returncode == 0


@pytest.mark.slow
def test_no_escape_sequences_when_piped(tmp_path: Path) -> None:
    drifted = copy_project(PROJECTS / "drifted", tmp_path)
    for args in (["check"], ["status"], ["lint"], ["rules"], ["check", "--database-url", "nope://x"]):
        result = run_safemigrate(*args, cwd=drifted, env={"DATABASE_URL": f"sqlite:///{tmp_path / 'd.db'}"})
        assert result.stdout or result.stderr, args
        assert ESCAPE not in result.stdout and ESCAPE not in result.stderr, args


def _on_a_terminal(*args: str, cwd: Path, env: dict[str, str]) -> str:
    """What the command writes to a pseudo-terminal (stdout and stderr are the terminal)."""
    import pty

    leader, follower = pty.openpty()
    full_env = {k: v for k, v in os.environ.items() if k not in {"NO_COLOR", "FORCE_COLOR", "TERM"}}
    full_env.update({"TERM": "xterm-256color", "COLUMNS": "200", **env})
    exe = Path(sys.executable).with_name("safemigrate")
    process = subprocess.Popen([str(exe), *args], cwd=cwd, env=full_env, stdout=follower, stderr=follower,
                               stdin=subprocess.DEVNULL)
    os.close(follower)
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # EIO: the terminal's other end closed
            break
        if not chunk:
            break
        chunks.append(chunk)
    process.wait(timeout=120)
    os.close(leader)
    return b"".join(chunks).decode("utf-8", "replace")


def test_no_color_on_a_terminal(tmp_path: Path) -> None:
    drifted = copy_project(PROJECTS / "drifted", tmp_path)
    coloured = _on_a_terminal("check", cwd=drifted, env={})
    assert COLOUR.search(coloured), "on a terminal the report is in colour (else this test proves nothing)"
    plain = _on_a_terminal("check", cwd=drifted, env={"NO_COLOR": "1"})
    assert "ALTER TABLE users ADD COLUMN nickname" in plain
    assert not COLOUR.search(plain), repr(COLOUR.search(plain))


@pytest.mark.slow
def test_the_demo_piped_to_a_file_has_no_escape_sequences(tmp_path: Path) -> None:
    output = tmp_path / "demo.txt"
    env = {k: v for k, v in os.environ.items() if k not in {"NO_COLOR", "FORCE_COLOR"}}
    with output.open("w") as sink:
        result = subprocess.run([sys.executable, str(REPO / "examples" / "demo.py")], stdout=sink,
                                stderr=subprocess.STDOUT, env=env, timeout=300)
    text = output.read_text()
    assert result.returncode == 0, text
    assert "Every step ended with the exit code it should" in text
    assert ESCAPE not in text


@pytest.mark.slow
def test_the_demo_tells_one_change_from_status_to_a_backup_and_ends_green(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, str(REPO / "examples" / "demo.py")], capture_output=True, text=True,
                            timeout=300, env={**os.environ, "COLUMNS": "200"})
    text = result.stdout + result.stderr
    assert result.returncode == 0, text
    story = ["$ safemigrate status", "in sync",
             "$ safemigrate check --dialect postgresql", "index ix_orders_created_at on orders",
             "CREATE INDEX CONCURRENTLY IF NOT EXISTS ix_orders_created_at ON orders (created_at);",
             "$ safemigrate lint", "error add-index-non-concurrently",
             "without CONCURRENTLY blocks writes to `orders`", 'postgresql_concurrently=True)',
             "$ safemigrate migrate", "environment development, autosync", "generated migrations/versions/",
             "$ safemigrate migrate", "environment production, fail-fast", "✓ verified backup",
             "verified backup taken before the first revision: prod-production-",
             "✓ the database is at head and matches the models",
             "$ safemigrate backup list", "complete"]
    at = 0
    for line in story:  # in this order
        found = text.find(line, at)
        assert found >= 0, f"{line!r} missing after position {at}:\n{text[at:]}"
        at = found + len(line)
    assert text.rstrip().splitlines()[-1].startswith("Every step ended with the exit code it should")
    assert "(exit code 0)" in text[at:]  # the last step, green


@pytest.mark.slow
def test_migrate_says_it_took_a_backup_and_its_id(shop: Path, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'live.db'}"
    upgrade(shop, url, "36c914febd34")
    configure_backup(shop, url=str(tmp_path / "backups"))
    result = run_safemigrate("migrate", "--env", "production", cwd=shop, env={"DATABASE_URL": url})
    assert result.returncode == 0, result.stdout + result.stderr
    backup_id = re.search(r"verified backup taken before the first revision: (\S+)", result.stdout)
    assert backup_id, result.stdout
    # the id is the one the ledger recorded with the revisions it applied
    assert scalar(url, "SELECT DISTINCT backup_id FROM safemigrate_history WHERE action = 'applied' "
                       "AND backup_id IS NOT NULL") == backup_id.group(1)
    listed = run_safemigrate("backup", "list", cwd=shop, env={"DATABASE_URL": url})
    assert backup_id.group(1) in listed.stdout


@pytest.mark.parametrize("args", [["check", "-q", "--format", "json"]])
def test_quiet_leaves_machine_formats_alone(tmp_path: Path, args: list[str]) -> None:
    shop = copy_project(EXAMPLE, tmp_path)
    result = run_safemigrate(*args, cwd=shop)
    assert result.returncode == 0 and '"kind": "check"' in result.stdout


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_shell_completion_as_the_readme_shows_it(tmp_path: Path, shell: str) -> None:
    exe = Path(sys.executable).with_name("safemigrate")
    source = subprocess.run([str(exe)], env={**os.environ, "_SAFEMIGRATE_COMPLETE": f"{shell}_source"},
                            capture_output=True, text=True, timeout=60)
    assert source.returncode == 0 and "_SAFEMIGRATE_COMPLETE" in source.stdout, source.stderr
    answer = subprocess.run([str(exe)], env={**os.environ, "_SAFEMIGRATE_COMPLETE": "bash_complete",
                                             "COMP_WORDS": "safemigrate con", "COMP_CWORD": "1"},
                            capture_output=True, text=True, timeout=60)
    assert "plain,config" in answer.stdout.splitlines(), answer.stdout  # bash: type,value per line


def test_help_lists_every_command_with_one_line_each() -> None:
    result = CliRunner().invoke(main, ["--help"], terminal_width=120)
    listed = result.output.split("Commands:", 1)[1].strip().splitlines()
    names = [line.split()[0] for line in listed]
    assert names == sorted(main.list_commands(click.Context(main)))  # one line per command, no continuation
    assert all(len(line.split(None, 1)) == 2 for line in listed)  # each with its summary



def test_no_summary_in_any_help_listing_is_cut_at_80_columns() -> None:
    cut = []
    for path in [(), *(p for p in _command_paths(main) if len(p) == 1)]:
        result = CliRunner().invoke(main, [*path, "--help"], terminal_width=80)
        if "Commands:" in result.output:
            listing = [line for line in result.output.split("Commands:", 1)[1].splitlines() if line.strip()]
            cut += [f"{' '.join(path)}: {line.strip()}" for line in listing if line.rstrip().endswith("...")]
            assert all(line.startswith("  ") and len(line.split(None, 1)) == 2 for line in listing), listing
    assert not cut, "summaries click shortened (give the command a short_help):\n" + "\n".join(cut)
