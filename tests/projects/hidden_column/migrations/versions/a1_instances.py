"""a1

Revision ID: a1
"""
import sqlalchemy as sa
from alembic import op

revision = "a1"
down_revision = None
branch_labels = None
depends_on = None


def upgrade():
    op.create_table("instances", sa.Column("id", sa.Integer, primary_key=True),
                    sa.Column("legacy_host", sa.String(255)))


def downgrade():
    pass
