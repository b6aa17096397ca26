"""orders

Revision ID: 1c7d3a9e5b20
Revises: 
Create Date: 2023-04-03 09:40:17.305661

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = '1c7d3a9e5b20'
down_revision: Union[str, Sequence[str], None] = None
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    orders = op.create_table('orders',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('reference', sa.String(length=20), nullable=False),
    sa.Column('amount_cents', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('reference')
    )
    # demo data shipped with every installation
    op.bulk_insert(orders, [
        {'reference': 'DEMO-0001', 'amount_cents': 1999},
        {'reference': 'DEMO-0002', 'amount_cents': 4500},
    ])


def downgrade() -> None:
    op.drop_table('orders')
