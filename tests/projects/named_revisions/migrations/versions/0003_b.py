"""users.last_login_at (written in parallel with 0003_a)

Revision ID: 0003_b
Revises: 0002_users
Create Date: 2024-02-02 14:40:00.000000

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = '0003_b'
down_revision: Union[str, Sequence[str], None] = '0002_users'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.add_column('users', sa.Column('last_login_at', sa.DateTime(), nullable=True))
    op.create_index('ix_users_last_login_at', 'users', ['last_login_at'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_users_last_login_at', table_name='users')
    with op.batch_alter_table('users') as batch_op:
        batch_op.drop_column('last_login_at')
