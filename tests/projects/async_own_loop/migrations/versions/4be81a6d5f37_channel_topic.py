"""channel topic

Revision ID: 4be81a6d5f37
Revises: 93d7c2f0e4a1
Create Date: 2023-09-04 17:46:51.093288

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = '4be81a6d5f37'
down_revision: Union[str, Sequence[str], None] = '93d7c2f0e4a1'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.add_column('channels', sa.Column('topic', sa.String(length=250), nullable=True))


def downgrade() -> None:
    op.drop_column('channels', 'topic')
