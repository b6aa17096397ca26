"""readings

Revision ID: c0d94b6e1a27
Revises: 5e1a8c7d2b40
Create Date: 2023-11-08 15:02:31.774120

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = 'c0d94b6e1a27'
down_revision: Union[str, Sequence[str], None] = '5e1a8c7d2b40'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table('readings',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('sensor_id', sa.Integer(), nullable=False),
    sa.Column('taken_at', sa.DateTime(), nullable=False),
    sa.Column('value_milli', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['sensor_id'], ['sensors.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_readings_taken_at'), 'readings', ['taken_at'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_readings_taken_at'), table_name='readings')
    op.drop_table('readings')
