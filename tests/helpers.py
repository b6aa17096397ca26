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


GUARD_MODELS = '''import sqlalchemy as sa

metadata = sa.MetaData()
users = sa.Table("users", metadata,
                 sa.Column("id", sa.Integer, primary_key=True),
                 sa.Column("name", sa.String(50), nullable=False))
'''

FIRST_REVISION = '''"""create users

Revision ID: 0001
"""
import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade():
    op.create_table("users", sa.Column("id", sa.Integer, primary_key=True),
                    sa.Column("name", sa.String(50), nullable=False))
    op.execute("INSERT INTO users (id, name) VALUES (1, 'ada'), (2, 'grace'), (3, 'edsger')")


def downgrade():
    op.drop_table("users")
'''


def scaffold(root: Path, package: str, models: str, first_revision: str, *,
             metadata: str = "metadata") -> Path:
    """A project with safemigrate's env.py, ini and template: package ``package`` (its models.py holds
    ``models``; ``metadata`` names the MetaData in it) and revision 0001 (``first_revision``)."""
    from importlib import resources

    (root / package).mkdir(parents=True)
    (root / package / "__init__.py").write_text("")
    (root / package / "models.py").write_text(models)
    (root / "pyproject.toml").write_text(f'[tool.safemigrate]\nmetadata = "{package}.models:{metadata}"\n')
    templates = resources.files("safemigrate") / "templates"
    versions = root / "migrations" / "versions"
    versions.mkdir(parents=True)
    (root / "migrations" / "env.py").write_text(templates.joinpath("env.py").read_text())
    (root / "migrations" / "script.py.mako").write_text(templates.joinpath("script.py.mako").read_text())
    (root / "alembic.ini").write_text(templates.joinpath("alembic.ini").read_text()
                                      .replace("{script_location}", "migrations"))
    (versions / "0001_users.py").write_text(first_revision)
    return root


def make_project(root: Path, second_revision_body: str, *, header: str = "") -> Path:
    """A tiny project (package guardapp) whose revision 0002 runs ``second_revision_body``."""
    scaffold(root, "guardapp", GUARD_MODELS, FIRST_REVISION)
    versions = root / "migrations" / "versions"
    body = "\n".join("    " + line if line else "" for line in second_revision_body.strip("\n").splitlines())
    (versions / "0002_change.py").write_text(
        f'"""change\n\nRevision ID: 0002\n"""\nimport sqlalchemy as sa\nfrom alembic import op\n'
        f"from safemigrate import allow\n{header}\nrevision = \"0002\"\ndown_revision = \"0001\"\n"
        f"branch_labels = None\ndepends_on = None\n\n\ndef upgrade():\n{body}\n\n\ndef downgrade():\n    pass\n")
    return root


def alembic_upgrade(project: Path, url: str):
    import os
    import subprocess
    import sys

    alembic = Path(sys.executable).with_name("alembic")
    return subprocess.run([str(alembic), "upgrade", "head"], cwd=project, env={**os.environ, "DATABASE_URL": url},
                          capture_output=True, text=True, timeout=300)
