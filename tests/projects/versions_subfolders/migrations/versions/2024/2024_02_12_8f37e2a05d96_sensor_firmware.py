"""sensor firmware

Revision ID: 8f37e2a05d96
Revises: c0d94b6e1a27
Create Date: 2024-02-12 09:48:16.330251

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = '8f37e2a05d96'
down_revision: Union[str, Sequence[str], None] = 'c0d94b6e1a27'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.add_column('sensors', sa.Column('firmware', sa.String(length=20), server_default=sa.text("'1.0.0'"), nullable=False))


def downgrade() -> None:
    op.drop_column('sensors', 'firmware')
