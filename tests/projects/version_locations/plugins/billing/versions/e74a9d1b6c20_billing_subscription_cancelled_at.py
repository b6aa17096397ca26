"""billing: subscription cancelled_at

Revision ID: e74a9d1b6c20
Revises: b1c0e7a43f58
Create Date: 2024-07-09 10:31:57.215804

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = 'e74a9d1b6c20'
down_revision: Union[str, Sequence[str], None] = 'b1c0e7a43f58'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.add_column('billing_subscriptions', sa.Column('cancelled_at', sa.DateTime(), nullable=True))


def downgrade() -> None:
    op.drop_column('billing_subscriptions', 'cancelled_at')
