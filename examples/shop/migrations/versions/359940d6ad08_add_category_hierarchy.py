"""add category hierarchy and descriptions

Revision ID: 359940d6ad08
Revises: 36c914febd34
Create Date: 2024-07-18 15:52:07.416658

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = "359940d6ad08"
down_revision: Union[str, Sequence[str], None] = "36c914febd34"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table("categories", schema=None) as batch_op:
        batch_op.add_column(sa.Column("description", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("parent_id", sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f("ix_categories_parent_id"), ["parent_id"], unique=False)
        batch_op.create_foreign_key(
            batch_op.f("fk_categories_parent_id_categories"),
            "categories",
            ["parent_id"],
            ["id"],
            ondelete="SET NULL",
        )


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table("categories", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_categories_parent_id_categories"), type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_categories_parent_id"))
        batch_op.drop_column("parent_id")
        batch_op.drop_column("description")
