"""add customer addresses

Revision ID: fdb845e4d313
Revises: e1bc5fb903a2
Create Date: 2024-03-11 11:08:19.254870

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = "fdb845e4d313"
down_revision: Union[str, Sequence[str], None] = "e1bc5fb903a2"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table(
        "addresses",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("label", sa.String(length=50), nullable=True),
        sa.Column("line1", sa.String(length=200), nullable=False),
        sa.Column("line2", sa.String(length=200), nullable=True),
        sa.Column("city", sa.String(length=100), nullable=False),
        sa.Column("postal_code", sa.String(length=20), nullable=False),
        sa.Column("country_code", sa.String(length=2), nullable=False),
        sa.Column("is_default", sa.Boolean(), server_default="0", nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("CURRENT_TIMESTAMP"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_addresses_customer_id_customers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_addresses")),
    )
    op.create_index(op.f("ix_addresses_customer_id"), "addresses", ["customer_id"], unique=False)

    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.add_column(sa.Column("shipping_address_id", sa.Integer(), nullable=True))
        batch_op.create_index(
            batch_op.f("ix_orders_shipping_address_id"), ["shipping_address_id"], unique=False
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_orders_shipping_address_id_addresses"),
            "addresses",
            ["shipping_address_id"],
            ["id"],
            ondelete="SET NULL",
        )


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_orders_shipping_address_id_addresses"), type_="foreignkey"
        )
        batch_op.drop_index(batch_op.f("ix_orders_shipping_address_id"))
        batch_op.drop_column("shipping_address_id")

    # ix_addresses_customer_id goes with its table (MySQL refuses to drop an
    # index that a foreign key still needs).
    op.drop_table("addresses")
