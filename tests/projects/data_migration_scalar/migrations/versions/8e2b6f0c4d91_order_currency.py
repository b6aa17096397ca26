"""order currency (nullable for now)

Revision ID: 8e2b6f0c4d91
Revises: 1c7d3a9e5b20
Create Date: 2023-05-15 14:02:59.118304

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = '8e2b6f0c4d91'
down_revision: Union[str, Sequence[str], None] = '1c7d3a9e5b20'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.add_column('orders', sa.Column('currency', sa.String(length=3), nullable=True))


def downgrade() -> None:
    op.drop_column('orders', 'currency')
