"""tags

Revision ID: 19d6b0e3f5a8
Revises: c8e21f4a7d03
Create Date: 2023-03-08 13:31:40.127664

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = '19d6b0e3f5a8'
down_revision: Union[str, Sequence[str], None] = 'c8e21f4a7d03'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table('tags',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=40), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('name')
    )


def downgrade() -> None:
    op.drop_table('tags')
