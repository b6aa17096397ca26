"""billing: plans and subscriptions

Created with: alembic revision -m "billing: plans and subscriptions" --head=base
  --branch-label=billing --version-path=plugins/billing/versions --depends-on=1f6b3d8e0a92

Revision ID: b1c0e7a43f58
Revises: 
Create Date: 2024-05-27 14:03:11.662090

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = 'b1c0e7a43f58'
down_revision: Union[str, Sequence[str], None] = None
branch_labels: Union[str, Sequence[str], None] = ('billing',)
depends_on: Union[str, Sequence[str], None] = '1f6b3d8e0a92'


def upgrade() -> None:
    op.create_table('billing_plans',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=30), nullable=False),
    sa.Column('price_cents', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('code')
    )
    op.create_table('billing_subscriptions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('customer_id', sa.Integer(), nullable=False),
    sa.Column('plan_id', sa.Integer(), nullable=False),
    sa.Column('started_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], ),
    sa.ForeignKeyConstraint(['plan_id'], ['billing_plans.id'], ),
    sa.PrimaryKeyConstraint('id')
    )


def downgrade() -> None:
    op.drop_table('billing_subscriptions')
    op.drop_table('billing_plans')
