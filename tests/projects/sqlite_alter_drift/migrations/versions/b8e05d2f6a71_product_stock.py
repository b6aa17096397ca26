"""product stock

Revision ID: b8e05d2f6a71
Revises: 4f91c3e7a2d5
Create Date: 2024-04-02 14:26:48.119630

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = 'b8e05d2f6a71'
down_revision: Union[str, Sequence[str], None] = '4f91c3e7a2d5'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.add_column('products', sa.Column('stock', sa.Integer(), server_default='0', nullable=False))


def downgrade() -> None:
    op.drop_column('products', 'stock')
