"""account updated_at and last_seen_at

Revision ID: 2d4f6b8a0c13
Revises: 85e2c7a1d09f
Create Date: 2023-01-30 16:04:45.301957

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = '2d4f6b8a0c13'
down_revision: Union[str, Sequence[str], None] = '85e2c7a1d09f'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.add_column('accounts', sa.Column('updated_at', sa.DateTime(), server_default=sa.func.now(), nullable=False))
    op.add_column('accounts', sa.Column('last_seen_at', sa.DateTime(), server_default=sa.func.now(), nullable=True))


def downgrade() -> None:
    op.drop_column('accounts', 'last_seen_at')
    op.drop_column('accounts', 'updated_at')
