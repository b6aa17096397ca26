"""customer country

Revision ID: 6ad20e4f9c13
Revises: 1f6b3d8e0a92
Create Date: 2024-06-18 16:55:02.904433

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = '6ad20e4f9c13'
down_revision: Union[str, Sequence[str], None] = '1f6b3d8e0a92'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.add_column('customers', sa.Column('country', sa.String(length=2), nullable=True))


def downgrade() -> None:
    op.drop_column('customers', 'country')
