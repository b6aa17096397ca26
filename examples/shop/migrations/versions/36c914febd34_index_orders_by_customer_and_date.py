"""index orders by customer and date; one order line per product

The customer's order history is listed newest first: a composite index on
(customer_id, created_at) serves it, and makes the single-column index on
customer_id redundant. An order holds at most one line per product.

Revision ID: 36c914febd34
Revises: 916a526e23a8
Create Date: 2024-06-04 10:27:36.845193

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = "36c914febd34"
down_revision: Union[str, Sequence[str], None] = "916a526e23a8"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    # create the new index first: on MySQL the foreign key on customer_id
    # needs some index starting with that column at all times
    op.create_index(
        "ix_orders_customer_id_created_at", "orders", ["customer_id", "created_at"], unique=False
    )
    op.drop_index(op.f("ix_orders_customer_id"), table_name="orders")

    with op.batch_alter_table("order_items", schema=None) as batch_op:
        batch_op.create_unique_constraint(
            batch_op.f("uq_order_items_order_id_product_id"), ["order_id", "product_id"]
        )


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table("order_items", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_order_items_order_id_product_id"), type_="unique")

    op.create_index(op.f("ix_orders_customer_id"), "orders", ["customer_id"], unique=False)
    op.drop_index("ix_orders_customer_id_created_at", table_name="orders")
