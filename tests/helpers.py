"""Small helpers shared by tests: editing a copied project like a developer would."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import create_engine, pool, text


def add_model_line(project: Path, class_name: str, line: str, models: str = "shop/models.py") -> None:
    """Insert ``line`` right after ``__tablename__`` of ``class_name``."""
    path = project / models
    source = path.read_text()
    start = source.index(f"class {class_name}(")
    name_at = source.index("__tablename__", start)
    end_of_line = source.index("\n", name_at)
    path.write_text(source[: end_of_line + 1] + f"    {line}\n" + source[end_of_line + 1:])


def execute(url: str, *statements: str) -> None:
    engine = create_engine(url, poolclass=pool.NullPool)
    try:
        with engine.begin() as conn:
            for statement in statements:
                conn.execute(text(statement))
    finally:
        engine.dispose()


def scalar(url: str, statement: str):
    engine = create_engine(url, poolclass=pool.NullPool)
    try:
        with engine.connect() as conn:
            return conn.execute(text(statement)).scalar()
    finally:
        engine.dispose()


def table_names(url: str) -> set[str]:
    from sqlalchemy import inspect

    engine = create_engine(url, poolclass=pool.NullPool)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def upgrade(project: Path, url: str, target: str = "head") -> None:
    """Apply migrations with plain Alembic (as the project's team would)."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "DATABASE_URL": url}
    alembic = Path(sys.executable).with_name("alembic")
    result = subprocess.run([str(alembic), "upgrade", target], cwd=project, env=env, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr
