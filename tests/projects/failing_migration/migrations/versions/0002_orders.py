"""orders, backfilled from the old checkout table

Revision ID: 0002
Revises: 0001
Create Date: 2024-08-12 13:45:00.000000

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = '0002'
down_revision: Union[str, Sequence[str], None] = '0001'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table('orders',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('total', sa.Numeric(precision=10, scale=2), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    # The old table only ever existed on the author's machine:
    op.execute("INSERT INTO orders (user_id, total) SELECT user_id, total FROM no_such_table")


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_table('orders')
