"""stock items

Revision ID: d4b7a2c05e98
Revises: 62e0f9b4a1c7
Create Date: 2024-04-16 09:12:07.334519

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = 'd4b7a2c05e98'
down_revision: Union[str, Sequence[str], None] = '62e0f9b4a1c7'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table('stock_items',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('warehouse_id', sa.Integer(), nullable=False),
    sa.Column('sku', sa.String(length=32), nullable=False),
    sa.Column('quantity', sa.Integer(), server_default='0', nullable=False),
    sa.ForeignKeyConstraint(['warehouse_id'], ['warehouses.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('warehouse_id', 'sku', name='uq_stock_items_warehouse_sku')
    )


def downgrade() -> None:
    op.drop_table('stock_items')
