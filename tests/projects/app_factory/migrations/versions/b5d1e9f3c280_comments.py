"""comments

Revision ID: b5d1e9f3c280
Revises: 0e8c3b5a7f14
Create Date: 2023-10-24 08:52:39.903316

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'b5d1e9f3c280'
down_revision = '0e8c3b5a7f14'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('comments',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('article_id', sa.Integer(), nullable=False),
    sa.Column('author', sa.String(length=80), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('approved', sa.Boolean(), server_default=sa.text('false'), nullable=False),
    sa.ForeignKeyConstraint(['article_id'], ['articles.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('comments', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_comments_article_id'), ['article_id'], unique=False)


def downgrade():
    # (dropping ix_comments_article_id first fails on MySQL: the FK needs it; the table takes it along)
    op.drop_table('comments')
