"""b2

Revision ID: b2
"""
import sqlalchemy as sa
from alembic import op

from poolapp.db import engine  # noqa: F401

revision = "b2"
down_revision = "a1"
branch_labels = None
depends_on = None


def upgrade():
    op.add_column("chat", sa.Column("title", sa.String(100)))


def downgrade():
    pass
