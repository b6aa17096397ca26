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
    op.add_column("users", sa.Column("settings", sa.JSON, server_default=sa.text("'{\"theme\":\"dark\"}'::json")))


def downgrade():
    pass
