"""add inventory

Stock levels per product. Every existing product gets a row with quantity 0.

Revision ID: 4f241768b312
Revises: 47dfb1365042
Create Date: 2024-04-23 08:56:10.772419

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = "4f241768b312"
down_revision: Union[str, Sequence[str], None] = "47dfb1365042"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

products = sa.table("products", sa.column("id", sa.Integer))
inventory = sa.table("inventory", sa.column("product_id", sa.Integer))


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table(
        "inventory",
        sa.Column("product_id", sa.Integer(), nullable=False),
        sa.Column("quantity", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("reserved", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("CURRENT_TIMESTAMP"),
            nullable=False,
        ),
        sa.CheckConstraint("quantity >= 0", name=op.f("ck_inventory_quantity_nonnegative")),
        sa.CheckConstraint("reserved >= 0", name=op.f("ck_inventory_reserved_nonnegative")),
        sa.ForeignKeyConstraint(
            ["product_id"],
            ["products.id"],
            name=op.f("fk_inventory_product_id_products"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("product_id", name=op.f("pk_inventory")),
    )
    # one stock row per existing product; quantity and reserved take their defaults
    op.execute(inventory.insert().from_select(["product_id"], sa.select(products.c.id)))


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_table("inventory")
