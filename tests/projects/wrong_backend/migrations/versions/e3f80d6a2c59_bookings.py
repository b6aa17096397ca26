"""bookings

Revision ID: e3f80d6a2c59
Revises: 7a2e5c1b9f04
Create Date: 2021-08-06 12:39:47.118035

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = 'e3f80d6a2c59'
down_revision: Union[str, Sequence[str], None] = '7a2e5c1b9f04'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table('bookings',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('member_id', sa.Integer(), nullable=False),
    sa.Column('court', sa.Integer(), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.ForeignKeyConstraint(['member_id'], ['members.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_bookings_day'), 'bookings', ['day'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_bookings_day'), table_name='bookings')
    op.drop_table('bookings')
