"""users.email (the first revision: users predates Alembic)

Revision ID: b7e1c0a4d2f9
Revises:
Create Date: 2019-03-02 10:41:07.113205

"""
from alembic import op
import sqlalchemy as sa


revision = 'b7e1c0a4d2f9'
down_revision = None
branch_labels = None
depends_on = None


def upgrade():
    op.add_column('users', sa.Column('email', sa.String(length=200), nullable=True))


def downgrade():
    op.drop_column('users', 'email')
