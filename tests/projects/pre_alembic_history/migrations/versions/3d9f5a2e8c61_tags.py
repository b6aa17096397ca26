"""tags

Revision ID: 3d9f5a2e8c61
Revises: b7e1c0a4d2f9
Create Date: 2020-06-15 16:02:51.902114

"""
from alembic import op
import sqlalchemy as sa


revision = '3d9f5a2e8c61'
down_revision = 'b7e1c0a4d2f9'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('tags',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('label', sa.String(length=50), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id']),
    sa.PrimaryKeyConstraint('id')
    )


def downgrade():
    op.drop_table('tags')
