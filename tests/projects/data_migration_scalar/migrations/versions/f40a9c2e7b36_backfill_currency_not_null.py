"""backfill orders.currency, then NOT NULL

Big installations must run scripts/backfill_currency.py (in batches) before
deploying this; the migration refuses to lock a huge table for a single UPDATE.

Revision ID: f40a9c2e7b36
Revises: 8e2b6f0c4d91
Create Date: 2023-06-12 10:21:44.640827

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = 'f40a9c2e7b36'
down_revision: Union[str, Sequence[str], None] = '8e2b6f0c4d91'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

MAX_INLINE_BACKFILL = 100_000


def upgrade() -> None:
    bind = op.get_bind()
    missing = bind.execute(sa.text("SELECT count(*) FROM orders WHERE currency IS NULL")).scalar()
    if missing > MAX_INLINE_BACKFILL:
        raise RuntimeError(
            f"{missing} orders have no currency: run scripts/backfill_currency.py before this migration"
        )
    if missing:
        op.execute("UPDATE orders SET currency = 'EUR' WHERE currency IS NULL")
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.alter_column('currency', existing_type=sa.String(length=3), nullable=False)


def downgrade() -> None:
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.alter_column('currency', existing_type=sa.String(length=3), nullable=True)
