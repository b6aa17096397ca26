"""accounts, and the legacy audit table the old system still writes to

Revision ID: e2b7c5049a1f
Revises: 
Create Date: 2023-11-27 15:20:03.114560

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = 'e2b7c5049a1f'
down_revision: Union[str, Sequence[str], None] = None
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table('accounts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('username', sa.String(length=80), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('username')
    )
    # Not modelled on purpose: env.py's include_object skips legacy_* tables.
    op.create_table('legacy_audit',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('actor', sa.String(length=80), nullable=True),
    sa.Column('action', sa.String(length=40), nullable=False),
    sa.Column('payload', sa.Text(), nullable=True),
    sa.Column('logged_at', sa.DateTime(), server_default=sa.text('CURRENT_TIMESTAMP'), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_legacy_audit_logged_at', 'legacy_audit', ['logged_at'])


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_index('ix_legacy_audit_logged_at', table_name='legacy_audit')
    op.drop_table('legacy_audit')
    op.drop_table('accounts')
