"""audit actor

Revision ID: 8b4f0d6e2a17
Revises: 5e2a9c7d1b34
Create Date: 2025-05-19 14:03:11.902455

"""
from alembic import op
import sqlalchemy as sa


revision = '8b4f0d6e2a17'
down_revision = '5e2a9c7d1b34'
branch_labels = None
depends_on = None


def upgrade():
    op.add_column('audit_log', sa.Column('actor', sa.String(length=80), nullable=True))


def downgrade():
    op.drop_column('audit_log', 'actor')
