"""a1

Revision ID: a1
"""
import sqlalchemy as sa
from alembic import op

from poolapp.db import engine  # noqa: F401  (revisions that import the application, as open-webui's do)

revision = "a1"
down_revision = None
branch_labels = None
depends_on = None


def upgrade():
    op.create_table("chat", sa.Column("id", sa.Integer, primary_key=True))


def downgrade():
    pass
