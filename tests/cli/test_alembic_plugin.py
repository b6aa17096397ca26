"""The Alembic plugin: plain ``alembic revision --autogenerate`` writes safemigrate's safe forms.

A project keeps Alembic's own env.py and names the plugin in ``autogenerate_plugins`` (Alembic 1.18+); the
lowest Alembic supported (1.13) has no plugin system, and the same env.py still generates, plainly.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import alembic
import pytest
from conftest import PROJECTS, REPO, copy_project, run_safemigrate
from helpers import upgrade

LOWEST = REPO / ".venv" / "alembic-lowest"
NAMED = 'compare_server_default=True,\n            autogenerate_plugins=["alembic.autogenerate.*", "safemigrate"],'
HAS_PLUGINS = tuple(int(p) for p in alembic.__version__.split(".")[:2]) >= (1, 18)


def _project(tmp_path: Path, *, named: bool) -> Path:
    project = copy_project(PROJECTS / "plain_env", tmp_path / "plain_env")
    env_py = project / "migrations" / "env.py"
    source = env_py.read_text()
    online = source.index("def run_migrations_online")
    if named:
        head, tail = source[:online], source[online:]
        env_py.write_text(head + tail.replace("compare_server_default=True,", NAMED, 1))
    models = project / "plainapp" / "models.py"
    models.write_text(models.read_text().replace(
        "title: Mapped[str] = mapped_column(String(200))",
        "title: Mapped[str] = mapped_column(String(200), index=True)"))
    return project


def _autogenerate(project: Path, url: str, pythonpath: str | None = None) -> tuple[str, str]:
    env = {**os.environ, "DATABASE_URL": url}
    if pythonpath:
        env["PYTHONPATH"] = pythonpath
    result = subprocess.run([sys.executable, "-m", "alembic", "revision", "--autogenerate", "-m", "title index"],
                            cwd=project, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    generated = list((project / "migrations" / "versions").glob("*title_index.py"))
    assert len(generated) == 1, result.stderr
    return generated[0].read_text(), result.stderr


@pytest.mark.skipif(not HAS_PLUGINS, reason="Alembic before 1.18 has no plugin system")
def test_a_plain_env_py_naming_the_plugin_gets_a_concurrent_index_on_postgresql(tmp_path, pg_url):
    project = _project(tmp_path, named=True)
    upgrade(project, pg_url)
    revision, _ = _autogenerate(project, pg_url)
    assert "postgresql_concurrently=True" in revision and "if_not_exists=True" in revision
    assert "autocommit_block" in revision
    assert "# safemigrate: rerun-converges" in revision
    # and it passes safemigrate's own lint, as the helper's revisions do
    lint = run_safemigrate("lint", cwd=project, env={"DATABASE_URL": pg_url})
    assert lint.returncode == 0, lint.stdout + lint.stderr


@pytest.mark.skipif(not HAS_PLUGINS, reason="Alembic before 1.18 has no plugin system")
def test_the_plugin_keeps_a_drop_out_of_the_revision(tmp_path, pg_url):
    project = _project(tmp_path, named=True)
    upgrade(project, pg_url)
    models = project / "plainapp" / "models.py"
    models.write_text(models.read_text().replace("    name: Mapped[str | None] = mapped_column(String(100))\n", ""))
    revision, stderr = _autogenerate(project, pg_url)
    assert "drop_column" not in revision
    assert "kept these destructive operations out of the new revision" in stderr


def test_a_project_that_does_not_name_it_gets_what_alembic_writes(tmp_path, pg_url):
    project = _project(tmp_path, named=False)
    upgrade(project, pg_url)
    revision, _ = _autogenerate(project, pg_url)
    assert "op.create_index(" in revision and "concurrently" not in revision


@pytest.mark.skipif(not (LOWEST / "alembic").is_dir(), reason="make's alembic-lowest target installs it")
def test_on_the_lowest_alembic_the_named_plugin_is_ignored_and_autogenerate_still_works(tmp_path, pg_url):
    project = _project(tmp_path, named=True)
    env = {**os.environ, "PYTHONPATH": str(LOWEST), "DATABASE_URL": pg_url}
    version = subprocess.run([sys.executable, "-c", "import alembic; print(alembic.__version__)"], env=env,
                             capture_output=True, text=True, check=True).stdout.strip()
    assert tuple(int(p) for p in version.split(".")[:2]) < (1, 18)
    subprocess.run([sys.executable, "-m", "alembic", "upgrade", "head"], cwd=project, env=env, check=True,
                   capture_output=True, timeout=300)
    revision, _ = _autogenerate(project, pg_url, pythonpath=str(LOWEST))
    assert "op.create_index(" in revision and "concurrently" not in revision


def test_the_entry_point_loads_the_way_each_alembic_loads_it():
    """1.18 iterates what the entry point loads (``for mod in entrypoint.load()``), 1.19+ takes one module: a
    plain module made ``import alembic`` fail on 1.18 wherever safemigrate was installed (seen on ckan)."""
    from importlib import metadata
    from types import ModuleType

    (entry,) = [e for e in metadata.entry_points(group="alembic.plugins") if e.name == "safemigrate"]
    loaded = entry.load()
    assert isinstance(loaded, ModuleType) and callable(loaded.setup)  # Alembic 1.19+
    assert list(loaded) == [loaded]  # Alembic 1.18
