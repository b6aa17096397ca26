"""add customer loyalty points

Revision ID: d5f6b1370600
Revises: 359940d6ad08
Create Date: 2024-09-09 09:44:23.580941

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = "d5f6b1370600"
down_revision: Union[str, Sequence[str], None] = "359940d6ad08"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table("customers", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("loyalty_points", sa.Integer(), server_default=sa.text("0"), nullable=False)
        )
        batch_op.create_check_constraint(
            batch_op.f("ck_customers_loyalty_points_nonnegative"), "loyalty_points >= 0"
        )


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table("customers", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("ck_customers_loyalty_points_nonnegative"), type_="check"
        )
        batch_op.drop_column("loyalty_points")
