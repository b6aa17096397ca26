"""Progress on long builds: which revision the throwaway build is at, on stderr, only where a person watches."""

from __future__ import annotations

from pathlib import Path

import pytest
from attacks.chain_project import Rev, make_chain
from conftest import run_safemigrate

REVISIONS = 30  # after 0001: 31 in all


@pytest.fixture
def chain(tmp_path: Path) -> Path:
    return make_chain(tmp_path / "chain", [Rev("op.execute('SELECT 1')")] * REVISIONS)


def test_a_forced_display_shows_each_revision_of_the_build(chain):
    result = run_safemigrate("check", cwd=chain, env={"SAFEMIGRATE_PROGRESS": "1"})
    assert result.returncode == 0, result.stdout + result.stderr
    total = REVISIONS + 1
    for number in (1, 15, total):
        assert f"build the throwaway database: revision {number:04d} ({number}/{total})" in result.stderr
    assert "\x1b" not in result.stdout  # the report itself stays plain: the display is on stderr only


def test_piped_output_never_gets_it(chain):
    result = run_safemigrate("check", cwd=chain)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stderr == ""
    assert "\x1b" not in result.stdout


@pytest.mark.parametrize("args", [("check", "-q"), ("check", "--format", "json"), ("-q", "check")])
def test_quiet_and_json_stay_silent_even_when_forced(chain, args):
    result = run_safemigrate(*args, cwd=chain, env={"SAFEMIGRATE_PROGRESS": "1"})
    assert result.returncode == 0, result.stdout + result.stderr
    assert "revision 0001" not in result.stderr and "\x1b" not in result.stderr + result.stdout


def test_a_display_that_breaks_does_not_break_the_build():
    from safemigrate.harness import progress

    def broken(event):
        raise RuntimeError("terminal went away")

    with progress.listening(broken):
        progress.report(progress.Progress("build the throwaway database", 0, 3, "0001"))  # no exception
