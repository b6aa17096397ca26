"""b2

Revision ID: b2
"""
import sqlalchemy as sa
from alembic import op

revision = "b2"
down_revision = "a1"
branch_labels = None
depends_on = None


def upgrade():
    op.execute("ALTER TABLE missing ADD COLUMN x INTEGER")


def downgrade():
    pass
