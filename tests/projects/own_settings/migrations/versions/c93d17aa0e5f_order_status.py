"""order status

Revision ID: c93d17aa0e5f
Revises: 5be0c4f81a2d
Create Date: 2024-06-18 11:47:20.019384

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = 'c93d17aa0e5f'
down_revision: Union[str, Sequence[str], None] = '5be0c4f81a2d'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    op.add_column('orders', sa.Column('status', sa.String(length=20), server_default='new', nullable=False))


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table('orders') as batch_op:
        batch_op.drop_column('status')
