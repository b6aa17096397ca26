"""users.phone (feature/sms branch)

Revision ID: b47a0c9e2f15
Revises: 7c2d9e04a1b3
Create Date: 2024-03-26 11:48:32.660409

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = 'b47a0c9e2f15'
down_revision: Union[str, Sequence[str], None] = '7c2d9e04a1b3'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    op.add_column('users', sa.Column('phone', sa.String(length=32), nullable=True))


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table('users') as batch_op:
        batch_op.drop_column('phone')
