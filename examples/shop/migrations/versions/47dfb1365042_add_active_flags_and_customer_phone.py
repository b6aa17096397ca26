"""add active flags and customer phone

Products listed at price 0 were placeholders created by the old admin tool:
they start out inactive.

Revision ID: 47dfb1365042
Revises: fdb845e4d313
Create Date: 2024-04-02 17:21:44.031562

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = "47dfb1365042"
down_revision: Union[str, Sequence[str], None] = "fdb845e4d313"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table("customers", schema=None) as batch_op:
        batch_op.add_column(sa.Column("phone", sa.String(length=32), nullable=True))
        batch_op.add_column(
            sa.Column("is_active", sa.Boolean(), server_default="1", nullable=False)
        )

    with op.batch_alter_table("products", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("is_active", sa.Boolean(), server_default="1", nullable=False)
        )

    op.execute("UPDATE products SET is_active = FALSE WHERE price = 0")


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table("products", schema=None) as batch_op:
        batch_op.drop_column("is_active")

    with op.batch_alter_table("customers", schema=None) as batch_op:
        batch_op.drop_column("is_active")
        batch_op.drop_column("phone")
