"""seed default categories

Revision ID: 474785f50e38
Revises: 50f9c33cdc22
Create Date: 2024-02-06 09:15:27.640331

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = "474785f50e38"
down_revision: Union[str, Sequence[str], None] = "50f9c33cdc22"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

# A lightweight table: the migration must not import the application's models,
# which describe the schema at head, not at this revision.
categories = sa.table(
    "categories",
    sa.column("name", sa.String),
    sa.column("slug", sa.String),
)

SEED = [
    {"name": "Books", "slug": "books"},
    {"name": "Electronics", "slug": "electronics"},
    {"name": "Home & Kitchen", "slug": "home-kitchen"},
    {"name": "Toys & Games", "slug": "toys-games"},
    {"name": "Clothing", "slug": "clothing"},
]


def upgrade() -> None:
    """Upgrade schema."""
    op.bulk_insert(categories, SEED)


def downgrade() -> None:
    """Downgrade schema."""
    op.execute(categories.delete().where(categories.c.slug.in_([row["slug"] for row in SEED])))
