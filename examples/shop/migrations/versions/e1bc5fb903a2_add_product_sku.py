"""add product sku

Every product gets a unique stock-keeping unit. Existing products are given
'SKU-<id>' before the column becomes NOT NULL and unique.

Revision ID: e1bc5fb903a2
Revises: 474785f50e38
Create Date: 2024-02-20 14:33:52.907716

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = "e1bc5fb903a2"
down_revision: Union[str, Sequence[str], None] = "474785f50e38"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

products = sa.table(
    "products",
    sa.column("id", sa.Integer),
    sa.column("sku", sa.String),
)


def upgrade() -> None:
    """Upgrade schema."""
    # 1. add the column as nullable so existing rows are allowed
    with op.batch_alter_table("products", schema=None) as batch_op:
        batch_op.add_column(sa.Column("sku", sa.String(length=32), nullable=True))

    # 2. backfill: 'SKU-' || id ('+' on strings renders as || or CONCAT() per dialect)
    op.execute(
        sa.update(products)
        .where(products.c.sku.is_(None))
        .values(sku=sa.literal("SKU-") + sa.cast(products.c.id, sa.String))
    )

    # 3. now every row has one: enforce it
    with op.batch_alter_table("products", schema=None) as batch_op:
        batch_op.alter_column("sku", existing_type=sa.String(length=32), nullable=False)
        batch_op.create_unique_constraint(batch_op.f("uq_products_sku"), ["sku"])


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table("products", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_products_sku"), type_="unique")
        batch_op.drop_column("sku")
