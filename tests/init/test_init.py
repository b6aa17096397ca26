"""safemigrate init: adopt an existing Alembic setup or scaffold one."""

from __future__ import annotations

import hashlib
import subprocess
import sys
import tomllib
from pathlib import Path

from conftest import run_safemigrate

from safemigrate import Project
from safemigrate.init.adopt import SNIPPET, init_project

MODELS = '''import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class Note(Base):
    __tablename__ = "notes"
    id: Mapped[int] = mapped_column(primary_key=True)
    body: Mapped[str] = mapped_column(sa.String(200), server_default="")
'''


def _fingerprint(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file() and "__pycache__" not in p.parts}


def _new_app(tmp_path: Path) -> Path:
    root = tmp_path / "newapp"
    (root / "notesapp").mkdir(parents=True)
    (root / "notesapp" / "__init__.py").write_text("")
    (root / "notesapp" / "models.py").write_text(MODELS)
    (root / "pyproject.toml").write_text('[project]\nname = "newapp"\nversion = "0.1.0"\n')
    return root


def test_scaffold_then_autogenerate_then_check(tmp_path):
    root = _new_app(tmp_path)
    result = run_safemigrate("init", "--metadata", "notesapp.models:Base.metadata", cwd=root)
    assert result.returncode == 0, result.stderr
    assert "Scaffolded a new Alembic setup at migrations" in result.stdout
    for path in ("migrations/env.py", "migrations/script.py.mako", "alembic.ini"):
        assert (root / path).is_file(), path
    assert "from safemigrate.env import run_migrations" in (root / "migrations" / "env.py").read_text()
    data = tomllib.loads((root / "pyproject.toml").read_text())
    assert data["project"]["name"] == "newapp"  # the rest of pyproject.toml is kept
    assert data["tool"]["safemigrate"] == {"metadata": "notesapp.models:Base.metadata",
                                           "script_location": "migrations", "database_url_env": "DATABASE_URL",
                                           "environment_env": "APP_ENV"}
    # the scaffold is a working Alembic environment
    alembic = Path(sys.executable).with_name("alembic")
    env = {"DATABASE_URL": f"sqlite:///{tmp_path / 'dev.db'}", "PATH": str(alembic.parent)}
    generated = subprocess.run([str(alembic), "revision", "--autogenerate", "-m", "initial"], cwd=root, env=env,
                               capture_output=True, text=True)
    assert generated.returncode == 0, generated.stderr
    report = Project.from_pyproject(root).check()
    assert report.ok and report.revisions_applied == 1


def test_adopt_existing_alembic_project_leaves_migrations_alone(project_factory):
    root = project_factory("plain_env")
    pyproject = root / "pyproject.toml"
    pyproject.write_text("[project]\nname = 'plainapp'\nversion = '1'\n")
    before = _fingerprint(root / "migrations")
    report = init_project(root)
    assert report.adopted and report.script_location == "migrations"
    assert report.snippet == SNIPPET  # env.py is not the helper: the user gets the snippet to paste
    assert _fingerprint(root / "migrations") == before
    assert tomllib.loads(pyproject.read_text())["tool"]["safemigrate"]["script_location"] == "migrations"
    # plain_env's env.py passes target_metadata itself, so no metadata key is needed to check
    assert Project.from_pyproject(root).check().ok


def test_adopting_a_project_that_already_uses_the_helper_prints_no_snippet(shop):
    report = init_project(shop)
    assert report.adopted and report.snippet is None
    assert "already existed" in report.notes[0]


def test_bad_metadata_writes_nothing(tmp_path):
    root = _new_app(tmp_path)
    before = _fingerprint(root)
    result = run_safemigrate("init", "--metadata", "notesapp.nope:Base.metadata", cwd=root)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "Importing 'notesapp.nope'" in result.stderr
    assert _fingerprint(root) == before


def test_non_empty_folder_without_env_py_is_refused(tmp_path):
    root = _new_app(tmp_path)
    (root / "migrations").mkdir()
    (root / "migrations" / "notes.txt").write_text("mine")
    result = run_safemigrate("init", "--metadata", "notesapp.models:Base.metadata", cwd=root)
    assert result.returncode == 2
    assert "exists and is not empty" in result.stderr
    assert not (root / "alembic.ini").exists()
