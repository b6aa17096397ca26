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
    op.create_table("assignment", sa.Column("id", sa.Integer, primary_key=True),
                    sa.Column("project_id", sa.Integer, sa.ForeignKey("project.id")))


def downgrade():
    pass
