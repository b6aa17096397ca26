"""account display_name (indexed)

Starts from the release-1.0 schema (bootapp.bootstrap.create_schema).

Revision ID: c8e21f4a7d03
Revises: 
Create Date: 2023-02-20 08:44:12.513306

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = 'c8e21f4a7d03'
down_revision: Union[str, Sequence[str], None] = None
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.add_column('accounts', sa.Column('display_name', sa.String(length=100), nullable=True))
    op.create_index(op.f('ix_accounts_display_name'), 'accounts', ['display_name'], unique=False)
    op.execute("UPDATE accounts SET display_name = 'Administrator' WHERE username = 'admin'")


def downgrade() -> None:
    op.drop_index(op.f('ix_accounts_display_name'), table_name='accounts')
    op.drop_column('accounts', 'display_name')
