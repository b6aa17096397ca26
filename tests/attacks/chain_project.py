"""A small project builder for the attack files (PostgreSQL and MariaDB): 0001 (users, three rows) and more.

Like ``helpers.make_project`` but with a chain of revisions after 0001, optional module-level code per
revision, a unique constraint on ``users.name`` (so that dropping a unique constraint can be attacked), a column
``note`` with no index (so that a type change does not rebuild a constraint) and
an optional view ``user_names`` created by 0001.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from helpers import scaffold

MODELS = '''import sqlalchemy as sa

metadata = sa.MetaData()
users = sa.Table("users", metadata,
                 sa.Column("id", sa.Integer, primary_key=True),
                 sa.Column("name", sa.String(50), nullable=False),
                 sa.Column("note", sa.String(50), nullable=True),
                 sa.UniqueConstraint("name", name="users_name_key"))
'''

FIRST = '''"""create users

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
                    sa.Column("name", sa.String(50), nullable=False),
                    sa.Column("note", sa.String(50), nullable=True),
                    sa.UniqueConstraint("name", name="users_name_key"))
    op.execute("INSERT INTO users (id, name, note) VALUES (1, 'ada', 'n1'), (2, 'grace', 'n2'), "
               "(3, 'edsger', 'n3')")
{extra}

def downgrade():
    op.drop_table("users")
'''

VIEW = '    op.execute("CREATE VIEW user_names AS SELECT name FROM users")\n'


@dataclass(frozen=True)
class Rev:
    """One revision after 0001: its upgrade() body, module-level code, and whether it is a time bomb."""

    body: str
    header: str = ""
    bomb: bool = True


def time_bomb(body: str) -> str:
    """``body``, run only outside safemigrate's throwaway databases."""
    indented = "\n".join("    " + line if line else "" for line in body.strip("\n").splitlines())
    return f'if "safemigrate_tmp_" not in str(op.get_bind().engine.url):\n{indented}\n'


def module_bomb(code: str) -> str:
    """Module-level ``code``, run only in the process serving a database that is not a throwaway one."""
    indented = "\n".join("    " + line if line else "" for line in code.strip("\n").splitlines())
    return ('import os as _os\nif "safemigrate_tmp_" not in _os.environ.get("DATABASE_URL", "safemigrate_tmp_"):\n'
            f"{indented}\n")


def make_chain(root: Path, revisions: list[Rev], *, view: bool = False, backups: Path | None = None) -> Path:
    scaffold(root, "guardapp", MODELS, FIRST.replace("{extra}", VIEW if view else ""))
    if backups is not None:
        pyproject = root / "pyproject.toml"
        pyproject.write_text(pyproject.read_text() + f'\n[tool.safemigrate.backup]\nurl = "{backups}"\n')
    versions = root / "migrations" / "versions"
    previous = "0001"
    for number, rev in enumerate(revisions, start=2):
        ident = f"{number:04d}"
        code = time_bomb(rev.body) if rev.bomb else rev.body
        body = "\n".join("    " + line if line else "" for line in code.strip("\n").splitlines())
        (versions / f"{ident}_change.py").write_text(
            f'"""change\n\nRevision ID: {ident}\n"""\nimport sqlalchemy as sa\nfrom alembic import op\n'
            f"from safemigrate import allow\n{rev.header}\nrevision = \"{ident}\"\ndown_revision = \"{previous}\"\n"
            f"branch_labels = None\ndepends_on = None\n\n\ndef upgrade():\n{body}\n\n\ndef downgrade():\n    pass\n")
        previous = ident
    return root
