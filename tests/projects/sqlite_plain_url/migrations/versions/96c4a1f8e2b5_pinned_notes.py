"""pinned notes

Revision ID: 96c4a1f8e2b5
Revises: 2b7f0c9e4d18
Create Date: 2024-03-01 18:44:20.027713

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = '96c4a1f8e2b5'
down_revision: Union[str, Sequence[str], None] = '2b7f0c9e4d18'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    with op.batch_alter_table('notes', schema=None) as batch_op:
        batch_op.add_column(sa.Column('pinned', sa.Boolean(), server_default=sa.text('0'), nullable=False))
        batch_op.create_index(batch_op.f('ix_notes_pinned'), ['pinned'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('notes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_notes_pinned'))
        batch_op.drop_column('pinned')
