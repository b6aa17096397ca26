"""venues

Revision ID: e05b7c3a91d2
Revises: 
Create Date: 2024-01-22 11:48:07.310554

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'e05b7c3a91d2'
down_revision = None
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('venues',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=120), nullable=False),
    sa.Column('capacity', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('name')
    )


def downgrade():
    op.drop_table('venues')
