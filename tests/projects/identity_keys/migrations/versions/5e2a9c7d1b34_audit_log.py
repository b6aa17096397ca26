"""audit log

Revision ID: 5e2a9c7d1b34
Revises:
Create Date: 2025-04-02 08:12:40.551203

"""
from alembic import op
import sqlalchemy as sa


revision = '5e2a9c7d1b34'
down_revision = None
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('audit_log',
    sa.Column('id', sa.BigInteger(), sa.Identity(always=False), nullable=False),
    sa.Column('action', sa.String(length=50), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )


def downgrade():
    op.drop_table('audit_log')
