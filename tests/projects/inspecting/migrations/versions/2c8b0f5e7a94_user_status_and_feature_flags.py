"""user status and feature flags (idempotent)

Production got users.status and feature_flags by hand during an incident, other
environments did not, so this revision looks at the live database before acting.

Revision ID: 2c8b0f5e7a94
Revises: 9a4e6c2f1d37
Create Date: 2023-09-14 18:22:51.660293

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = '2c8b0f5e7a94'
down_revision: Union[str, Sequence[str], None] = '9a4e6c2f1d37'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    inspector = sa.inspect(op.get_bind())

    user_columns = {column["name"] for column in inspector.get_columns("users")}
    if "status" not in user_columns:
        op.add_column('users', sa.Column('status', sa.String(length=20), server_default='active', nullable=False))

    if not inspector.has_table("feature_flags"):
        op.create_table('feature_flags',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('name', sa.String(length=64), nullable=False),
        sa.Column('enabled', sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('name')
        )


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_table('feature_flags')
    with op.batch_alter_table('users') as batch_op:
        batch_op.drop_column('status')
