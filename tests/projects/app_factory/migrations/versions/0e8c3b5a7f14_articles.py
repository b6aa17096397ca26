"""articles

Revision ID: 0e8c3b5a7f14
Revises: 
Create Date: 2023-10-11 19:26:05.118470

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0e8c3b5a7f14'
down_revision = None
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('articles',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('slug', sa.String(length=120), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('published_at', sa.DateTime(), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('slug')
    )


def downgrade():
    op.drop_table('articles')
